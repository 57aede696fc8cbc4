import { SFNClient } from '@aws-sdk/client-sfn';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const sfnClient = new SFNClient(clientConfig());
