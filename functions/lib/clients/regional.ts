import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { clientConfig } from './config';
import { ec2Client } from './ec2';
import { elbv2Client } from './elbv2';
import { ssmClient } from './ssm';

/**
 * Clients for a named region, built once per container. Region failover works in two regions from one function:
 * the DR site's nodes and load balancer, and the primary cluster's load balancer when it checks for a failback.
 */
const byRegion = new Map<string, { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient }>();

export function clientsIn(region: string) {
  // The function's own region is served by the clients every other operation uses.
  if (region === process.env.AWS_REGION) return { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
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
