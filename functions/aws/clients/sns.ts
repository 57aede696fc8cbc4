import { SNSClient } from '@aws-sdk/client-sns';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const snsClient = new SNSClient(clientConfig());
