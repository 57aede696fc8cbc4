import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { clientConfig, regionalClients } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const elbv2Client = new ElasticLoadBalancingV2Client(clientConfig());

/** The client for a region; the function's own region shares `elbv2Client`. */
export const elbv2In = regionalClients(elbv2Client, (region) => new ElasticLoadBalancingV2Client(clientConfig(region)));
