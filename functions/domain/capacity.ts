import { CapacityGuardError } from './errors';

/**
 * The capacity guard. Capacity is counted in nodes: each healthy node behind a target group with weight above 0
 * serves. The baseline is what served when the workflow took its snapshot; after any step that takes traffic away,
 * the nodes still serving must be at least `minHealthyPercent` of it. With the runbook's 75%, a 2-node
 * active/active cluster cannot take a node out until a surge node serves (2 of 2 stay serving, not 1 of 2), and an
 * active/passive cluster can move its traffic to a healthy passive node (1 of 1).
 */

export interface PlannedGroup {
  readonly name: string;
  readonly weightBefore: number;
  readonly weightAfter: number;
  /** Instances whose target is healthy in this group. */
  readonly healthyInstances: readonly string[];
}

export interface CapacityCheck {
  readonly baselineServing: number;
  readonly servingBefore: number;
  readonly servingAfter: number;
  readonly requiredServing: number;
  readonly removesTraffic: boolean;
}

export function servingNodes(groups: readonly PlannedGroup[], weightOf: (group: PlannedGroup) => number): number {
  const serving = new Set<string>();
  for (const group of groups) {
    if (weightOf(group) > 0) for (const instance of group.healthyInstances) serving.add(instance);
  }
  return serving.size;
}

export function requiredServing(baselineServing: number, minHealthyPercent: number): number {
  return Math.ceil((baselineServing * minHealthyPercent) / 100);
}

/** Refuses with `CapacityGuardError` a change that would serve too little, or serve from an unhealthy group. */
export function guardCapacity(
  groups: readonly PlannedGroup[],
  minHealthyPercent: number,
  baselineServing?: number,
): CapacityCheck {
  const servingBefore = servingNodes(groups, (group) => group.weightBefore);
  const servingAfter = servingNodes(groups, (group) => group.weightAfter);
  const baseline = baselineServing ?? servingBefore;
  const required = requiredServing(baseline, minHealthyPercent);
  const removesTraffic = groups.some((group) => group.weightAfter < group.weightBefore);
  const check = { baselineServing: baseline, servingBefore, servingAfter, requiredServing: required, removesTraffic };

  if (groups.every((group) => group.weightAfter === 0)) {
    throw new CapacityGuardError('Refusing to set every weight to 0: the cluster would serve nothing');
  }
  const unhealthy = groups.filter(
    (group) => group.weightAfter > 0 && group.weightAfter > group.weightBefore && group.healthyInstances.length === 0,
  );
  if (unhealthy.length > 0) {
    throw new CapacityGuardError(
      `Refusing to send traffic to ${unhealthy.map((group) => group.name).join(', ')}: no healthy target`,
    );
  }
  if (removesTraffic && servingAfter < required) {
    throw new CapacityGuardError(
      `Refusing to remove traffic: ${servingAfter} healthy node(s) would keep serving, but ${required} are needed ` +
        `(${minHealthyPercent}% of the ${baseline} that served at the start)`,
    );
  }
  return check;
}
