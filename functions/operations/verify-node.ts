import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { describeLiveNode } from '../aws/ec2';
import type { ClusterModel } from '../domain/cluster-model';
import { HealthCheckFailedError, VersionMismatchError } from '../domain/errors';
import { type InspectRequest, inspect, type NodeInspection, VERSION_CHECK } from './node-checks';

/**
 * Runs every health check of the cluster against the node: the HTTP checks on its private IP, then the load
 * balancer's view of its target, and the version it reports when the request names one. Fails with
 * `VersionMismatchError` when the version is all that is wrong, else with `HealthCheckFailedError`; either names
 * every failing check.
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
    const message = `Node ${request.instanceId} failed ${failed.map((check) => `"${check.check}": ${check.detail}`).join('; ')}`;
    if (failed.every((check) => check.check === VERSION_CHECK)) throw new VersionMismatchError(message);
    throw new HealthCheckFailedError(message);
  }
  return inspection;
}
