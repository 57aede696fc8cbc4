import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { CLUSTER_TAG_KEY, type ClusterModel, type ClusterNode, ROLE_TAG_KEY, targetGroupOf } from './cluster-model';
import { ConfigurationError, HealthCheckFailedError, InputValidationError, NodeLostError } from './errors';
import { type Membership, recordReplacement, saveMembership } from './membership';
import { verifyNode } from './node-health';
import { describeInstances, findSurgeNodes, isSurgeNodeOf } from './nodes';
import { isWeighted, readTargetHealth, readWeights, type SlotWeight } from './traffic';

/** The tag that names the slot a permanent node serves in, so a node (and its heartbeat) knows its place. */
export const SLOT_TAG_KEY = 'zerodown:slot';
/** The role a lost node is tagged with once it is replaced: it belongs to the cluster no more. */
export const LOST_ROLE = 'lost';

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

function requireWeighted(model: ClusterModel): asserts model is Parameters<typeof readWeights>[1] {
  if (!isWeighted(model)) {
    throw new ConfigurationError(
      `Cluster "${model.name}" uses one target group, where the load balancer itself stops routing to an unhealthy ` +
        'node; failover moves weights and needs the weighted-target-groups strategy',
    );
  }
}

/**
 * Confirms a node loss an alarm reported, by probing the node again with every health check of the cluster (so one
 * blip does not flip traffic), and works out the failover: the weights that move the lost node's share to the
 * healthy permanent nodes, and the weights to restore once its replacement serves.
 */
export async function assessNodeLoss(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: { slot: string; now?: Date },
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
  const [lostProbe, otherProbes, current, surgeNodes] = await Promise.all([
    probe(clients, model, node.instanceId),
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

const weightOf = (weights: readonly SlotWeight[], slot: string) =>
  weights.find((entry) => entry.slot === slot)?.weight ?? 0;

/** The lost slot's weight, shared evenly among the survivors; every other slot keeps its weight. */
export function moveShare(
  current: readonly SlotWeight[],
  lostSlot: string,
  survivors: readonly { slot: string }[],
): Record<string, number> {
  const weights = Object.fromEntries(current.map((entry) => [entry.slot, entry.weight]));
  const share = weightOf(current, lostSlot);
  weights[lostSlot] = 0;
  if (share === 0 || survivors.length === 0) return weights;
  const each = Math.max(1, Math.round(share / survivors.length));
  for (const survivor of survivors) weights[survivor.slot] = (weights[survivor.slot] ?? 0) + each;
  return weights;
}

function servingSurge(model: Parameters<typeof readWeights>[1], weights: Readonly<Record<string, number>>): boolean {
  return (weights[model.traffic.surgeSlot] ?? 0) > 0;
}

/**
 * The steady state once the replacement serves: active/passive keeps the traffic on the node that took it over and
 * makes the replacement the passive node; active/active gives every permanent slot the same weight again. Either way
 * the surge slot ends at 0, so a pre-empted maintenance workflow's surge node can be retired.
 */
export function restoredWeights(
  model: ClusterModel,
  afterMove: Readonly<Record<string, number>>,
  lostSlot: string,
): Record<string, number> {
  requireWeighted(model);
  const permanent = model.nodes.map((node) => node.slot ?? '');
  const restored: Record<string, number> = Object.fromEntries(model.traffic.slots.map((slot) => [slot.name, 0]));
  const total = Object.values(afterMove).reduce((sum, weight) => sum + weight, 0) || 100;
  if (model.topology === 'active-passive') {
    const active =
      permanent.find((slot) => slot !== lostSlot && (afterMove[slot] ?? 0) > 0) ??
      permanent.find((slot) => slot !== lostSlot);
    if (active) restored[active] = total;
    return restored;
  }
  const each = Math.max(1, Math.round(total / permanent.length));
  for (const slot of permanent) restored[slot] = each;
  return restored;
}

export interface AdoptRequest {
  readonly slot: string;
  /** The node the alarm reported lost. */
  readonly lostInstanceId: string;
  /** The surge node the failover launched and verified. */
  readonly replacementId: string;
  readonly now?: Date;
}

export interface AdoptResult {
  readonly slot: string;
  readonly instanceId: string;
  readonly role: ClusterNode['role'];
  readonly replaced: string;
  /** False when a retry found the replacement already in place. */
  readonly changed: boolean;
}

/**
 * Makes the verified replacement the permanent node of the lost node's slot: it joins the slot's target group and
 * leaves the surge slot's, takes the lost node's role and slot tags, and the membership record names it, so every
 * later workflow (and the next failover) sees it as the slot's node. The lost node leaves the slot's target group and
 * is tagged `lost`, not terminated: it is evidence, and the operator decides. Each step is idempotent.
 */
export async function adoptReplacement(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient },
  state: { model: ClusterModel; membership: Membership },
  request: AdoptRequest,
): Promise<AdoptResult> {
  const { model } = state;
  requireWeighted(model);
  const member = model.nodes.find((node) => node.slot === request.slot);
  if (!member) {
    throw new InputValidationError('Invalid adoption', [
      { path: 'slot', message: `names no permanent node of cluster "${model.name}"` },
    ]);
  }
  const alreadyAdopted = member.instanceId === request.replacementId;
  if (!alreadyAdopted && member.instanceId !== request.lostInstanceId) {
    throw new InputValidationError('Invalid adoption', [
      {
        path: 'lostInstanceId',
        message: `is ${request.lostInstanceId}, but slot "${request.slot}" is held by ${member.instanceId} now`,
      },
    ]);
  }
  const [replacement] = await describeInstances(clients.ec2, [request.replacementId]);
  const ownTagged = replacement?.tags[CLUSTER_TAG_KEY] === model.name;
  if (!replacement || !ownTagged || (!alreadyAdopted && !isSurgeNodeOf(model, replacement))) {
    throw new InputValidationError('Invalid adoption', [
      { path: 'replacementId', message: `is not a surge node of cluster "${model.name}"` },
    ]);
  }

  const slotGroup = targetGroupOf(model, member);
  const surgeGroup = targetGroupOf(model, { slot: model.traffic.surgeSlot });
  await clients.elbv2.send(
    new RegisterTargetsCommand({ TargetGroupArn: slotGroup, Targets: [{ Id: request.replacementId }] }),
  );
  await deregisterIfPresent(clients.elbv2, surgeGroup, request.replacementId);
  await deregisterIfPresent(clients.elbv2, slotGroup, request.lostInstanceId);
  await clients.ec2.send(
    new CreateTagsCommand({
      Resources: [request.replacementId],
      Tags: [
        { Key: ROLE_TAG_KEY, Value: member.role },
        { Key: SLOT_TAG_KEY, Value: request.slot },
        { Key: 'Name', Value: `${model.name}-${request.slot}` },
      ],
    }),
  );
  await tagLost(clients.ec2, request.lostInstanceId);
  const membership = recordReplacement(state.membership, {
    slot: request.slot,
    lost: request.lostInstanceId,
    replacement: request.replacementId,
    at: (request.now ?? new Date()).toISOString(),
  });
  if (membership !== state.membership) await saveMembership(clients.ssm, model.name, membership);
  return {
    slot: request.slot,
    instanceId: request.replacementId,
    role: member.role,
    replaced: request.lostInstanceId,
    changed: !alreadyAdopted,
  };
}

async function deregisterIfPresent(elbv2: ElasticLoadBalancingV2Client, targetGroupArn: string, instanceId: string) {
  const registered = (await readTargetHealth(elbv2, targetGroupArn)).some(
    (target) => target.instanceId === instanceId && target.state !== 'draining',
  );
  if (!registered) return;
  await elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: instanceId }] }));
}

async function tagLost(ec2: EC2Client, instanceId: string) {
  try {
    await ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: ROLE_TAG_KEY, Value: LOST_ROLE }] }));
  } catch (error) {
    // A lost node that is already gone needs no label.
    if (!(error instanceof Error && error.name.startsWith('InvalidInstanceID'))) throw error;
  }
}
