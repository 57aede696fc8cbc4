import { EC2Client } from '@aws-sdk/client-ec2';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const ec2Client = new EC2Client(clientConfig());
