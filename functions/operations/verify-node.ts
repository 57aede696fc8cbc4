import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { describeLiveNode } from '../aws/ec2';
import type { ClusterModel } from '../domain/cluster-model';
import { HealthCheckFailedError } from '../domain/errors';
import { type InspectRequest, inspect, type NodeInspection } from './node-checks';

/**
 * Runs every health check of the cluster against the node: the HTTP checks on its private IP, then the load
 * balancer's view of its target. Fails with `HealthCheckFailedError` naming the first failing check.
 */
export async function verifyNode(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: InspectRequest,
): Promise<NodeInspection> {
  const node = await describeLiveNode(clients.ec2, request.instanceId);
  const inspection = await inspect(clients, model, node, request.expectedVersion);
  if (!inspection.passed) {
    const failed = inspection.checks.filter((check) => !check.passed);
    throw new HealthCheckFailedError(
      `Node ${request.instanceId} failed ${failed.map((check) => `"${check.check}": ${check.detail}`).join('; ')}`,
    );
  }
  return inspection;
}
