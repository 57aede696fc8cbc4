import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const ssmClient = new SSMClient(clientConfig());
