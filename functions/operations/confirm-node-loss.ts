import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { findSurgeNodes } from '../aws/ec2';
import { readWeights } from '../aws/elbv2';
import type { ClusterModel, ClusterNode } from '../domain/cluster-model';
import { HealthCheckFailedError, InputValidationError, NodeLostError } from '../domain/errors';
import { moveShare, requireWeighted, restoredWeights, servingSurge, weightOf } from '../domain/weights';
import { verifyNode } from './verify-node';

export interface NodeLossAssessment {
  /** False when the node answered every check again: a blip, and no failover. */
  readonly lost: boolean;
  readonly slot: string;
  readonly instanceId: string;
  readonly role: ClusterNode['role'];
  /** The lost node's weight before the move: 0 when it carried no traffic (a passive node, or one under maintenance). */
  readonly lostWeight: number;
  /** Why the node counts as lost, or what it answered. */
  readonly findings: string;
  /** Permanent nodes that passed their checks. */
  readonly survivors: readonly { slot: string; instanceId: string }[];
  /** The weights that take the lost node's share to the survivors. */
  readonly weights: Readonly<Record<string, number>>;
  /** The weights once the replacement serves in the lost node's slot. */
  readonly restoreWeights: Readonly<Record<string, number>>;
  /** Nodes serving after the move: what the capacity guard measures the shift against. */
  readonly baselineServing: number;
  /** True when the survivors are fewer than `minHealthyPercent` of the cluster's permanent nodes. */
  readonly degraded: boolean;
  /** Surge nodes left by a maintenance workflow that the failover pre-empts; they are retired at the end. */
  readonly leftoverSurgeNodes: readonly string[];
  readonly assessedAt: string;
}

async function probe(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  instanceId: string,
): Promise<{ passed: boolean; findings: string }> {
  try {
    const inspection = await verifyNode(clients, model, { instanceId });
    return { passed: true, findings: `passed ${inspection.checks.map((check) => `"${check.check}"`).join(', ')}` };
  } catch (error) {
    if (error instanceof HealthCheckFailedError || error instanceof NodeLostError) {
      return { passed: false, findings: error.message };
    }
    throw error;
  }
}

/**
 * Confirms a node loss an alarm reported, by probing the node again with every health check of the cluster (so one
 * blip does not flip traffic), and works out the failover: the weights that move the lost node's share to the
 * healthy permanent nodes, and the weights to restore once its replacement serves. With `confirmed`, the failover
 * works the move out again once it holds the lock: a workflow it pre-empted may have moved traffic or launched a
 * surge node since the first assessment.
 */
export async function assessNodeLoss(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: { slot: string; confirmed?: boolean; now?: Date },
): Promise<NodeLossAssessment> {
  requireWeighted(model);
  const node = model.nodes.find((candidate) => candidate.slot === request.slot);
  if (!node) {
    const slots = model.nodes.map((candidate) => candidate.slot).join(', ');
    throw new InputValidationError('Invalid node loss', [
      { path: 'slot', message: `names no permanent node of cluster "${model.name}" (${slots})` },
    ]);
  }
  const others = model.nodes.filter((candidate) => candidate !== node);
  const alreadyLost = { passed: false, findings: 'confirmed lost before the lock was taken' };
  const [lostProbe, otherProbes, current, surgeNodes] = await Promise.all([
    request.confirmed ? alreadyLost : probe(clients, model, node.instanceId),
    Promise.all(others.map((other) => probe(clients, model, other.instanceId))),
    readWeights(clients.elbv2, model),
    findSurgeNodes(clients.ec2, model),
  ]);
  const survivors = others
    .filter((_, index) => otherProbes[index]?.passed)
    .map((other) => ({ slot: other.slot ?? '', instanceId: other.instanceId }));
  const weights = moveShare(current, request.slot, survivors);
  const restoreWeights = restoredWeights(model, weights, request.slot);
  const servingAfter = survivors.length + (servingSurge(model, weights) ? surgeNodes.length : 0);
  const required = Math.ceil((model.nodes.length * model.capacity.minHealthyPercent) / 100);
  return {
    lost: !lostProbe.passed,
    slot: request.slot,
    instanceId: node.instanceId,
    role: node.role,
    lostWeight: weightOf(current, request.slot),
    findings: lostProbe.findings,
    survivors,
    weights,
    restoreWeights,
    baselineServing: servingAfter,
    degraded: survivors.length < required,
    leftoverSurgeNodes: surgeNodes.map((surge) => surge.instanceId),
    assessedAt: (request.now ?? new Date()).toISOString(),
  };
}
