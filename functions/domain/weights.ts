import type { ClusterModel } from './cluster-model';
import { ConfigurationError } from './errors';

/** ALB weights run from 0 to 999. */
export const MAX_WEIGHT = 999;

export interface SlotWeight {
  readonly slot: string;
  readonly targetGroupArn: string;
  readonly weight: number;
}

export interface TargetState {
  readonly instanceId: string;
  /** initial | healthy | unhealthy | unused | draining | unavailable */
  readonly state: string;
  readonly reason?: string;
}

export type WeightedModel = ClusterModel & {
  traffic: Extract<ClusterModel['traffic'], { strategy: 'weighted-target-groups' }>;
};

export function isWeighted(model: ClusterModel): model is WeightedModel {
  return model.traffic.strategy === 'weighted-target-groups';
}

export function describeWeights(weights: readonly SlotWeight[]): string {
  return weights.map((entry) => `${entry.slot}=${entry.weight}`).join(', ');
}

export function clusterTargetGroups(model: ClusterModel): string[] {
  const traffic = model.traffic;
  return traffic.strategy === 'weighted-target-groups'
    ? weightedListeners(model as WeightedModel).flatMap((listener) => Object.values(listener.targetGroups))
    : [traffic.targetGroupArn];
}

/**
 * A node's state across the target groups it serves in: unregistered (undefined) when any of them lacks it, else the
 * first that is not healthy, else healthy. Behind several listeners a node serves only when every port does.
 */
export function targetStateIn(
  health: ReadonlyMap<string, readonly TargetState[]>,
  targetGroups: readonly string[],
  instanceId: string,
): TargetState | undefined {
  const states = targetGroups.map((arn) => health.get(arn)?.find((target) => target.instanceId === instanceId));
  if (states.length === 0 || states.some((state) => state === undefined)) return undefined;
  return states.find((state) => state?.state !== 'healthy') ?? states[0];
}

/** The instances healthy in every one of the target groups. */
export function healthyInEvery(
  health: ReadonlyMap<string, readonly TargetState[]>,
  targetGroups: readonly string[],
): string[] {
  const ids = new Set((health.get(targetGroups[0] ?? '') ?? []).map((target) => target.instanceId));
  return [...ids].filter((id) => targetStateIn(health, targetGroups, id)?.state === 'healthy');
}

/** A listener that carries the cluster's weights, and the target group of each slot behind it. */
export interface WeightedListener {
  /** "traffic" for the cluster's listener, else the additional listener's own name. */
  readonly name: string;
  readonly listenerArn: string;
  readonly ruleArn?: string;
  readonly targetGroups: Readonly<Record<string, string>>;
}

/** The cluster's listener first, then every additional one: all of them take every shift's weights. */
export function weightedListeners(model: WeightedModel): WeightedListener[] {
  const traffic = model.traffic;
  return [
    {
      name: 'traffic',
      listenerArn: traffic.listenerArn,
      ...(traffic.ruleArn ? { ruleArn: traffic.ruleArn } : {}),
      targetGroups: Object.fromEntries(traffic.slots.map((slot) => [slot.name, slot.targetGroupArn])),
    },
    ...(traffic.additionalListeners ?? []),
  ];
}

export function requireWeighted(model: ClusterModel): asserts model is WeightedModel {
  if (!isWeighted(model)) {
    throw new ConfigurationError(
      `Cluster "${model.name}" uses one target group, where the load balancer itself stops routing to an unhealthy ` +
        'node; failover moves weights and needs the weighted-target-groups strategy',
    );
  }
}

export const weightOf = (weights: readonly SlotWeight[], slot: string) =>
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

export function servingSurge(model: WeightedModel, weights: Readonly<Record<string, number>>): boolean {
  return (weights[model.traffic.surgeSlot] ?? 0) > 0;
}

export interface RestoreOptions {
  /** The surge node standing by was adopted into the lost slot: whatever the surge slot carries, that slot carries. */
  readonly adoptedFromSurge?: boolean;
  /** Slots whose node a workflow took out of service and never verified since: they get no traffic back. */
  readonly outOfServiceSlots?: readonly string[];
}

/**
 * The steady state once the replacement serves in the lost slot: active/passive keeps the traffic on the node that
 * took it over (the adopted standby, when the traffic went to it) and makes the other the passive node;
 * active/active gives every permanent slot in service the same weight again. Either way the surge slot ends at 0, so
 * a pre-empted maintenance workflow's surge node can be retired.
 */
export function restoredWeights(
  model: ClusterModel,
  afterMove: Readonly<Record<string, number>>,
  lostSlot: string,
  options: RestoreOptions = {},
): Record<string, number> {
  requireWeighted(model);
  const surgeSlot = model.traffic.surgeSlot;
  const moved = { ...afterMove };
  if (options.adoptedFromSurge) {
    moved[lostSlot] = (moved[lostSlot] ?? 0) + (moved[surgeSlot] ?? 0);
    moved[surgeSlot] = 0;
  }
  const outOfService = new Set(options.outOfServiceSlots ?? []);
  const permanent = model.nodes.map((node) => node.slot ?? '');
  const inService = permanent.filter((slot) => !outOfService.has(slot));
  const restored: Record<string, number> = Object.fromEntries(model.traffic.slots.map((slot) => [slot.name, 0]));
  const total = Object.values(afterMove).reduce((sum, weight) => sum + weight, 0) || 100;
  if (model.topology === 'active-passive') {
    const serving = [...permanent].sort((x, y) => (moved[y] ?? 0) - (moved[x] ?? 0))[0];
    const active =
      serving !== undefined && (moved[serving] ?? 0) > 0
        ? serving
        : (inService.find((slot) => slot !== lostSlot) ?? lostSlot);
    restored[active] = total;
    return restored;
  }
  const each = Math.max(1, Math.round(total / Math.max(1, inService.length)));
  for (const slot of inService) restored[slot] = each;
  return restored;
}
