import * as path from 'node:path';

/** The project root, resolved from this file so that synthesis does not depend on the working directory. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
