import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const cloudwatchClient = new CloudWatchClient(clientConfig());
