import { EC2Client } from '@aws-sdk/client-ec2';
import { clientConfig, regionalClients } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const ec2Client = new EC2Client(clientConfig());

/** The client for a region; the function's own region shares `ec2Client`. */
export const ec2In = regionalClients(ec2Client, (region) => new EC2Client(clientConfig(region)));
