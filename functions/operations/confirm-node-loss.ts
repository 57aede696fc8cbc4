import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { findSurgeNodes } from '../aws/ec2';
import { readWeights } from '../aws/elbv2';
import type { ClusterModel, ClusterNode } from '../domain/cluster-model';
import { HealthCheckFailedError, InputValidationError, NodeLostError } from '../domain/errors';
import { commonVersion, launchedNodeVersion } from '../domain/snapshot';
import { moveShare, requireWeighted, restoredWeights, servingSurge, weightOf } from '../domain/weights';
import { reportedVersion } from './node-checks';
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
  /**
   * Permanent nodes that passed their checks and that no workflow took out of service without verifying them since:
   * the nodes known good.
   */
  readonly survivors: readonly { slot: string; instanceId: string }[];
  /**
   * The version every survivor reports, read under the lock: the version the cluster runs, which a standby and a
   * replacement must report too before they take the slot. Null when there is no survivor, one reports none, or they
   * differ, and then nothing is compared.
   */
  readonly currentVersion: string | null;
  /**
   * What a launched replacement (and a standby) must report: `currentVersion` where it boots from
   * `surge.imageParameter`, which is kept in step with the cluster; else the version a pre-empted upgrade's migrations
   * need (`migratedTo`); else null (nothing compared), as with a fixed `surge.imageId`.
   */
  readonly replacementVersion: string | null;
  /**
   * How a replacement that reports another version than `replacementVersion` is brought to it before it is adopted:
   * the model's upgrade command, to that version. The image lags the cluster whenever a rollout changed the nodes but
   * did not bake (interrupted, pre-empted by this very failover, rolled back after changing a node, or its bake
   * failed); without this, no replacement could ever pass. Null without an upgrade command or a version to reach.
   */
  readonly replacementCatchUp: { readonly kind: 'upgrade'; readonly input: string } | null;
  /**
   * A surge node that passed every check of the cluster and reports `currentVersion` (any version when it is null):
   * the runbook's extra passive node. It takes the lost node's slot instead of a replacement (`adopt`), and its
   * traffic when no permanent node can. Empty when there is none.
   */
  readonly standby: string;
  /**
   * Surge nodes that passed every check but report another version than `currentVersion`: booted from a stale image,
   * or left by an upgrade whose migration their version cannot run on. Never the standby; they stay among
   * `leftoverSurgeNodes`, so they are retired at the end.
   */
  readonly staleStandbys: readonly { instanceId: string; version: string | null }[];
  /** True when the standby is adopted into the lost slot, so no replacement is launched. */
  readonly adopt: boolean;
  /** Permanent nodes left out because a workflow took them out of service and has not verified them since. */
  readonly outOfService: readonly { slot: string; instanceId: string }[];
  /** The weights that take the lost node's share to the survivors. */
  readonly weights: Readonly<Record<string, number>>;
  /** The weights once the replacement serves in the lost node's slot. */
  readonly restoreWeights: Readonly<Record<string, number>>;
  /** The weights once the nodes left out of service are verified again and serve as they did. */
  readonly returnWeights: Readonly<Record<string, number>>;
  /** Nodes serving after the move: what the capacity guard measures the shift against. */
  readonly baselineServing: number;
  /** True when the survivors are fewer than `minHealthyPercent` of the cluster's permanent nodes. */
  readonly degraded: boolean;
  /**
   * Surge nodes left by a maintenance workflow that the failover pre-empts, but for the adopted standby (stale
   * standbys included); they are retired at the end.
   */
  readonly leftoverSurgeNodes: readonly string[];
  readonly assessedAt: string;
}

interface Probe {
  readonly passed: boolean;
  readonly findings: string;
  /** What a node that passed reports at the version endpoint, when it was asked; null when it has none. */
  readonly version: string | null;
}

/** Runs every check of the cluster on the node and, with `withVersion`, reads the version of a node that passed. */
async function probe(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  instanceId: string,
  withVersion: boolean,
): Promise<Probe> {
  try {
    const inspection = await verifyNode(clients, model, { instanceId });
    const version = withVersion && inspection.privateIp ? await reportedVersion(model, inspection.privateIp) : null;
    return {
      passed: true,
      findings: `passed ${inspection.checks.map((check) => `"${check.check}"`).join(', ')}`,
      version,
    };
  } catch (error) {
    if (error instanceof HealthCheckFailedError || error instanceof NodeLostError) {
      return { passed: false, findings: error.message, version: null };
    }
    throw error;
  }
}

export interface NodeLossRequest {
  readonly slot: string;
  /** The loss was confirmed before the lock was taken: work the move out again without probing the lost node. */
  readonly confirmed?: boolean;
  /**
   * Nodes the workflow that held the lock took out of service and had not verified since (its recovery record):
   * never a survivor, whatever their checks answer now, since a patch may be half applied.
   */
  readonly outOfService?: readonly string[];
  /**
   * The version a workflow the failover pre-empted had migrated the database for, when the old version cannot run on
   * it (its recovery record): new nodes are held to it, survivors or not.
   */
  readonly migratedTo?: string | null;
  /**
   * Nodes a migration the failover left running still runs on: a surge node among them is neither the standby (it is
   * busy) nor a leftover to retire (terminating it would cut the migration half-way).
   */
  readonly busy?: readonly string[];
  readonly now?: Date;
}

/**
 * Confirms a node loss an alarm reported, by probing the node again with every health check of the cluster (so one
 * blip does not flip traffic), and works out the failover: the weights that move the lost node's share to the nodes
 * known good, and the weights to restore once a node serves in the lost slot again. With `confirmed`, the failover
 * works the move out again once it holds the lock: a workflow it pre-empted may have moved traffic or launched a
 * surge node since the first assessment.
 *
 * A healthy surge node is a standby, as the runbook's extra passive node is: it is adopted into the lost slot, so
 * redundancy is back without a launch. It takes the traffic itself when no permanent node is known good, and shares it
 * in active/active when it serves already. Active/passive otherwise moves the traffic to the passive node, as always.
 *
 * Under the lock the survivors and the healthy surge nodes are also asked their version, in the same probes: the
 * survivors' common version is the cluster's current version, and a surge node that reports another one is a stale
 * standby, never adopted and retired with the leftovers. The first look reads no versions, so it stays fast.
 */
export async function assessNodeLoss(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: NodeLossRequest,
): Promise<NodeLossAssessment> {
  requireWeighted(model);
  const node = model.nodes.find((candidate) => candidate.slot === request.slot);
  if (!node) {
    const slots = model.nodes.map((candidate) => candidate.slot).join(', ');
    throw new InputValidationError('Invalid node loss', [
      { path: 'slot', message: `names no permanent node of cluster "${model.name}" (${slots})` },
    ]);
  }
  const outOfServiceIds = new Set(request.outOfService ?? []);
  const busyIds = new Set(request.busy ?? []);
  const slotOf = (member: ClusterNode) => ({ slot: member.slot ?? '', instanceId: member.instanceId });
  const others = model.nodes.filter((candidate) => candidate !== node);
  const candidates = others.filter((other) => !outOfServiceIds.has(other.instanceId));
  const underLock = request.confirmed === true;
  const alreadyLost: Probe = { passed: false, findings: 'confirmed lost before the lock was taken', version: null };
  // Standbys are probed only under the lock, where the move is decided: the first look only confirms the loss.
  const probeStandbys = async () => {
    const surgeNodes = await findSurgeNodes(clients.ec2, model);
    const standbys = underLock
      ? surgeNodes.filter((surge) => !outOfServiceIds.has(surge.instanceId) && !busyIds.has(surge.instanceId))
      : [];
    const probes = await Promise.all(standbys.map((surge) => probe(clients, model, surge.instanceId, true)));
    const healthy = standbys.flatMap((surge, index) => {
      const result = probes[index];
      return result?.passed ? [{ instanceId: surge.instanceId, version: result.version }] : [];
    });
    return { surgeNodes, healthy };
  };
  const [lostProbe, candidateProbes, current, { surgeNodes, healthy }] = await Promise.all([
    underLock ? alreadyLost : probe(clients, model, node.instanceId, false),
    Promise.all(candidates.map((other) => probe(clients, model, other.instanceId, underLock))),
    readWeights(clients.elbv2, model),
    probeStandbys(),
  ]);
  const passedProbes = candidateProbes.filter((result) => result.passed);
  const survivors = candidates.filter((_, index) => candidateProbes[index]?.passed).map(slotOf);
  const currentVersion =
    underLock && passedProbes.length > 0 ? commonVersion(passedProbes.map((result) => result.version)) : null;
  // A standby is held to what a replacement would be, so the two never differ (a fixed image's nodes are not
  // compared). With no version to hold it to (no survivor, as when the other node is out of service mid-patch, or
  // survivors that disagree), the standby is taken whatever it reports: it may be the only node that can serve.
  // Past an upgrade's point of no return, a node of another version than the migrated schema needs must never take
  // traffic or a slot, whatever image it boots and whether or not a survivor answers to compare with.
  const migratedTo = request.migratedTo ?? null;
  const replacementVersion = launchedNodeVersion(currentVersion, model.surge.imageParameter) ?? migratedTo;
  const isStale = (surge: { version: string | null }) =>
    replacementVersion !== null && surge.version !== replacementVersion;
  const staleStandbys = healthy.filter(isStale);
  const standby = healthy.find((surge) => !isStale(surge))?.instanceId ?? '';
  const surgeSlot = model.traffic.surgeSlot;
  const surgeServes = weightOf(current, surgeSlot) > 0;
  const takers: { slot: string }[] =
    model.topology === 'active-passive' && survivors.length > 0
      ? survivors
      : [...survivors, ...(standby && (surgeServes || survivors.length === 0) ? [{ slot: surgeSlot }] : [])];
  const weights = moveShare(current, request.slot, takers);
  const outOfService = others.filter((other) => outOfServiceIds.has(other.instanceId)).map(slotOf);
  const restoreWeights = restoredWeights(model, weights, request.slot, {
    adoptedFromSurge: standby !== '',
    outOfServiceSlots: outOfService.map((entry) => entry.slot),
  });
  const returnWeights = restoredWeights(model, weights, request.slot, { adoptedFromSurge: standby !== '' });
  const servingAfter =
    survivors.filter((survivor) => (weights[survivor.slot] ?? 0) > 0).length + (servingSurge(model, weights) ? 1 : 0);
  const required = Math.ceil((model.nodes.length * model.capacity.minHealthyPercent) / 100);
  return {
    lost: !lostProbe.passed,
    slot: request.slot,
    instanceId: node.instanceId,
    role: node.role,
    lostWeight: weightOf(current, request.slot),
    findings: lostProbe.findings,
    survivors,
    currentVersion,
    replacementVersion,
    replacementCatchUp:
      replacementVersion !== null && model.commands.upgrade ? { kind: 'upgrade', input: replacementVersion } : null,
    standby,
    staleStandbys,
    adopt: standby !== '',
    outOfService,
    weights,
    restoreWeights,
    returnWeights,
    baselineServing: servingAfter,
    degraded: survivors.length + (standby ? 1 : 0) < required,
    leftoverSurgeNodes: surgeNodes
      .map((surge) => surge.instanceId)
      .filter((instanceId) => instanceId !== standby && !busyIds.has(instanceId)),
    assessedAt: (request.now ?? new Date()).toISOString(),
  };
}
