import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig, regionalClients } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const ssmClient = new SSMClient(clientConfig());

/** The client for a region; the function's own region shares `ssmClient`. */
export const ssmIn = regionalClients(ssmClient, (region) => new SSMClient(clientConfig(region)));
