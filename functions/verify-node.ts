import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { nodeCheckInput, parseInput } from './lib/input';
import { verifyNode } from './lib/node-health';

/** Every health check of the cluster against one node; fails with HealthCheckFailedError naming the check. */
export async function handler(event: unknown) {
  const input = parseInput(nodeCheckInput, event, 'verify-node');
  return verifyNode({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster), input);
}
