import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { clientConfig } from './config';

/** Built once per Lambda container, at module scope, and reused across invocations. */
export const elbv2Client = new ElasticLoadBalancingV2Client(clientConfig());
