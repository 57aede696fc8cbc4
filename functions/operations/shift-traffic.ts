import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  deregisterTargets,
  holdsWeights,
  mergedWeights,
  readClusterTargetHealth,
  readListenerWeights,
  readTargetHealth,
  registerTargets,
  repairExposedRules,
  writeWeights,
} from '../aws/elbv2';
import { type CapacityCheck, guardCapacity, type PlannedGroup } from '../domain/capacity';
import { type ClusterModel, targetGroupsOf } from '../domain/cluster-model';
import { InputValidationError } from '../domain/errors';
import { healthyInEvery, isWeighted, type SlotWeight, type TargetState, type WeightedModel } from '../domain/weights';

export interface ShiftRequest {
  /** New weights by slot name (weighted strategy). Slots not named keep their weight. */
  readonly weights?: Readonly<Record<string, number>>;
  /** Instances to add to or take out of the target group (single-target-group strategy). */
  readonly register?: readonly string[];
  readonly deregister?: readonly string[];
  /** Nodes that served at the snapshot; the guard measures against it. @default - those serving now */
  readonly baselineServing?: number;
}

export interface ShiftResult {
  readonly changed: boolean;
  readonly weights: SlotWeight[];
  readonly previousWeights: SlotWeight[];
  readonly capacity: CapacityCheck;
  /** How long the workflow must wait for connections to drain before touching a node that lost traffic. */
  readonly drainSeconds: number;
  /** When the load balancer was read back with the new weights: the failover timeline's "traffic moved". */
  readonly shiftedAt: string;
}

const healthyIn = (targets: readonly TargetState[] | undefined) =>
  (targets ?? []).filter((target) => target.state === 'healthy').map((target) => target.instanceId);

/**
 * Moves traffic: re-weights the listener's forward action (or registers and deregisters targets in the single
 * target group), after the capacity guard agrees. Setting the weights that are already there changes nothing on the
 * listener but still brings every exposed rule to them, so a retry repairs what a failed call left half done.
 */
export async function shiftTraffic(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  request: ShiftRequest,
): Promise<ShiftResult> {
  const result = await (isWeighted(model) ? shiftWeights(elbv2, model, request) : shiftMembers(elbv2, model, request));
  return { ...result, shiftedAt: new Date().toISOString() };
}

async function shiftWeights(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel & WeightedModel,
  request: ShiftRequest,
): Promise<Omit<ShiftResult, 'shiftedAt'>> {
  const requested = request.weights ?? {};
  const slotNames = model.traffic.slots.map((slot) => slot.name);
  const unknown = Object.keys(requested).filter((slot) => !slotNames.includes(slot));
  if (unknown.length > 0 || request.register || request.deregister) {
    throw new InputValidationError('Invalid traffic shift', [
      ...unknown.map((slot) => ({ path: `weights.${slot}`, message: `names no slot (${slotNames.join(', ')})` })),
      ...(request.register || request.deregister
        ? [{ path: 'register', message: 'is for the single-target-group strategy; this cluster uses weights' }]
        : []),
    ]);
  }

  const [listeners, health] = await Promise.all([
    readListenerWeights(elbv2, model),
    readClusterTargetHealth(elbv2, model),
  ]);
  const current = mergedWeights(model, listeners);
  const planned = current.map((entry) => ({ ...entry, weight: requested[entry.slot] ?? entry.weight }));
  const capacity = guardCapacity(
    planned.map(
      (entry, index): PlannedGroup => ({
        name: `slot ${entry.slot}`,
        weightBefore: current[index]?.weight ?? 0,
        weightAfter: entry.weight,
        healthyInstances: healthyInEvery(health, targetGroupsOf(model, { slot: entry.slot })),
      }),
    ),
    model.capacity.minHealthyPercent,
    request.baselineServing,
  );
  // Every listener is compared, not the merged view: one a stopped shift left behind still needs the weights.
  const changed = listeners.some((entry) => !holdsWeights(entry, planned));
  const weights = changed ? await writeWeights(elbv2, model, planned) : current;
  // writeWeights brings the exposed rules along; an unchanged listener may still have rules a failed call left behind.
  const repair = changed ? undefined : await repairExposedRules(elbv2, model, weights);
  const drains = (changed && capacity.removesTraffic) || repair?.removedTraffic === true;
  return {
    changed: changed || (repair?.repaired ?? 0) > 0,
    weights,
    previousWeights: current,
    capacity,
    drainSeconds: drains ? model.capacity.drainSeconds : 0,
  };
}

async function shiftMembers(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  request: ShiftRequest,
): Promise<Omit<ShiftResult, 'shiftedAt'>> {
  if (model.traffic.strategy !== 'single-target-group') throw new Error('unreachable');
  if (request.weights) {
    throw new InputValidationError('Invalid traffic shift', [
      { path: 'weights', message: 'is for the weighted-target-groups strategy; this cluster registers targets' },
    ]);
  }
  const targetGroupArn = model.traffic.targetGroupArn;
  const targets = await readTargetHealth(elbv2, targetGroupArn);
  const registered = targets.filter((target) => target.state !== 'draining').map((target) => target.instanceId);
  const healthy = new Set(healthyIn(targets));
  const toRegister = (request.register ?? []).filter((id) => !registered.includes(id));
  const toDeregister = (request.deregister ?? []).filter((id) => registered.includes(id));
  const members = [...new Set([...registered, ...(request.register ?? [])])];

  // Each registered instance counts as its own group of weight 1. Newly registered targets do not count as serving
  // until the load balancer's health checks pass, and the load balancer sends them nothing before that.
  const capacity = guardCapacity(
    registered.map((instanceId) => ({
      name: instanceId,
      weightBefore: 1,
      weightAfter: toDeregister.includes(instanceId) ? 0 : 1,
      healthyInstances: healthy.has(instanceId) ? [instanceId] : [],
    })),
    model.capacity.minHealthyPercent,
    request.baselineServing,
  );
  await registerTargets(elbv2, targetGroupArn, toRegister);
  await deregisterTargets(elbv2, targetGroupArn, toDeregister);
  const changed = toRegister.length + toDeregister.length > 0;
  const membership = (ids: readonly string[]) =>
    ids.map((instanceId) => ({ slot: instanceId, targetGroupArn, weight: 1 }));
  return {
    changed,
    weights: membership(members.filter((id) => !toDeregister.includes(id))),
    previousWeights: membership(registered),
    capacity,
    drainSeconds: toDeregister.length > 0 ? model.capacity.drainSeconds : 0,
  };
}
