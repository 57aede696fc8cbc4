import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The project root: the nearest directory above this file with a package.json. That is the repository when the
 * TypeScript sources run, and the package (`node_modules/zerodown`) when the built library in `dist/` runs, where this
 * file sits one level deeper. Resolved from this file so that synthesis does not depend on the working directory.
 */
export const PROJECT_ROOT = packageRootAbove(__dirname);

function packageRootAbove(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`zerodown: no package.json above ${start}`);
  }
}
