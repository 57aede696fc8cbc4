import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { observedHandler } from './aws/observability';
import { nodeCheckInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { verifyNode } from './operations/verify-node';

/** Every health check of the cluster against one node; fails with HealthCheckFailedError naming the check. */
async function handle(event: unknown) {
  const input = parseInput(nodeCheckInput, event, 'verify-node');
  return verifyNode({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster), input);
}

export const handler = observedHandler('verify-node', handle);
