import { RDSClient } from '@aws-sdk/client-rds';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const rdsClient = new RDSClient(clientConfig());
