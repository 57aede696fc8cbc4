import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from './config';

/**
 * Clients for a named region, built once per container. Region failover works in two regions from one function:
 * the DR site's nodes and load balancer, and the primary cluster's load balancer when it checks for a failback.
 */
const byRegion = new Map<string, { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient }>();

export function clientsIn(region: string) {
  let clients = byRegion.get(region);
  if (!clients) {
    clients = {
      ec2: new EC2Client(clientConfig(region)),
      elbv2: new ElasticLoadBalancingV2Client(clientConfig(region)),
      ssm: new SSMClient(clientConfig(region)),
    };
    byRegion.set(region, clients);
  }
  return clients;
}
