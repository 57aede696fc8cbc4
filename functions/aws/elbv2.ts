import {
  type Action,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyRuleCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ClusterModel } from './cluster-model';
import { TrafficShiftError } from './errors';
import { findExposedRules, mirrorForwardAction } from './exposed-rules';

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

type WeightedModel = ClusterModel & {
  traffic: Extract<ClusterModel['traffic'], { strategy: 'weighted-target-groups' }>;
};

export function isWeighted(model: ClusterModel): model is WeightedModel {
  return model.traffic.strategy === 'weighted-target-groups';
}

/** The actions that carry the cluster's traffic: the rule's actions, or the listener's default actions. */
async function readActions(elbv2: ElasticLoadBalancingV2Client, model: ClusterModel): Promise<Action[]> {
  if (model.traffic.ruleArn) {
    const rules = await elbv2.send(new DescribeRulesCommand({ RuleArns: [model.traffic.ruleArn] }));
    return rules.Rules?.[0]?.Actions ?? [];
  }
  const listeners = await elbv2.send(new DescribeListenersCommand({ ListenerArns: [model.traffic.listenerArn] }));
  return listeners.Listeners?.[0]?.DefaultActions ?? [];
}

/** The forward action that carries the cluster's traffic, if there is one. */
export async function readForwardAction(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
): Promise<Action | undefined> {
  return (await readActions(elbv2, model)).find((action) => action.Type === 'forward');
}

function forwardTargets(actions: Action[]): { TargetGroupArn?: string; Weight?: number }[] {
  const forward = actions.find((action) => action.Type === 'forward');
  if (!forward) return [];
  if (forward.ForwardConfig?.TargetGroups?.length) return forward.ForwardConfig.TargetGroups;
  return forward.TargetGroupArn ? [{ TargetGroupArn: forward.TargetGroupArn, Weight: 1 }] : [];
}

/** The weight of every slot, as the listener (or rule) holds it now. Slots missing from the action weigh 0. */
export async function readWeights(elbv2: ElasticLoadBalancingV2Client, model: WeightedModel): Promise<SlotWeight[]> {
  const targets = forwardTargets(await readActions(elbv2, model));
  return model.traffic.slots.map((slot) => ({
    slot: slot.name,
    targetGroupArn: slot.targetGroupArn,
    weight: targets.find((target) => target.TargetGroupArn === slot.targetGroupArn)?.Weight ?? 0,
  }));
}

/**
 * Writes the weights into the forward action, keeping every other action (authentication, for one) and the
 * stickiness settings as they are, and reads them back: a shift is done only when the load balancer says so.
 */
export async function writeWeights(
  elbv2: ElasticLoadBalancingV2Client,
  model: WeightedModel,
  weights: readonly SlotWeight[],
): Promise<SlotWeight[]> {
  const actions = await readActions(elbv2, model);
  const forwardIndex = actions.findIndex((action) => action.Type === 'forward');
  const forward = actions[forwardIndex];
  const updated: Action = {
    Type: 'forward',
    ...(forward?.Order !== undefined ? { Order: forward.Order } : {}),
    ForwardConfig: {
      TargetGroups: weights.map((entry) => ({ TargetGroupArn: entry.targetGroupArn, Weight: entry.weight })),
      ...(forward?.ForwardConfig?.TargetGroupStickinessConfig
        ? { TargetGroupStickinessConfig: forward.ForwardConfig.TargetGroupStickinessConfig }
        : {}),
    },
  };
  const next = forwardIndex >= 0 ? actions.map((action, i) => (i === forwardIndex ? updated : action)) : [updated];
  if (model.traffic.ruleArn) {
    await elbv2.send(new ModifyRuleCommand({ RuleArn: model.traffic.ruleArn, Actions: next }));
  } else {
    await elbv2.send(new ModifyListenerCommand({ ListenerArn: model.traffic.listenerArn, DefaultActions: next }));
  }

  const readBack = await readWeights(elbv2, model);
  if (
    !tookWeights(
      readBack.map((entry) => ({ TargetGroupArn: entry.targetGroupArn, Weight: entry.weight })),
      weights,
    )
  ) {
    throw new TrafficShiftError(
      `The load balancer did not take the new weights: wrote ${describeWeights(weights)}, read back ${describeWeights(readBack)}`,
    );
  }
  await mirrorIntoExposedRules(elbv2, model, updated, weights);
  return readBack;
}

/** Gives the rules that expose the cluster's services the same weights, and checks they took them. */
async function mirrorIntoExposedRules(
  elbv2: ElasticLoadBalancingV2Client,
  model: WeightedModel,
  forward: Action,
  weights: readonly SlotWeight[],
): Promise<void> {
  const rules = await findExposedRules(elbv2, model);
  if (rules.length === 0) return;
  await mirrorForwardAction(elbv2, rules, forward);
  const readBack = await elbv2.send(new DescribeRulesCommand({ RuleArns: rules.map((rule) => rule.ruleArn) }));
  for (const rule of readBack.Rules ?? []) {
    if (!tookWeights(forwardTargets(rule.Actions ?? []), weights)) {
      throw new TrafficShiftError(`The rule ${rule.RuleArn} exposing a service did not take the new weights`);
    }
  }
}

/** Whether the forward targets read back carry every weight written. */
function tookWeights(targets: readonly { TargetGroupArn?: string; Weight?: number }[], written: readonly SlotWeight[]) {
  return written.every(
    (entry) => targets.find((target) => target.TargetGroupArn === entry.targetGroupArn)?.Weight === entry.weight,
  );
}

export function describeWeights(weights: readonly SlotWeight[]): string {
  return weights.map((entry) => `${entry.slot}=${entry.weight}`).join(', ');
}

export async function readTargetHealth(
  elbv2: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
): Promise<TargetState[]> {
  const response = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (response.TargetHealthDescriptions ?? []).map((description) => ({
    instanceId: description.Target?.Id ?? '',
    state: description.TargetHealth?.State ?? 'unavailable',
    ...(description.TargetHealth?.Reason ? { reason: description.TargetHealth.Reason } : {}),
  }));
}

export function clusterTargetGroups(model: ClusterModel): string[] {
  const traffic = model.traffic;
  return traffic.strategy === 'weighted-target-groups'
    ? traffic.slots.map((slot) => slot.targetGroupArn)
    : [traffic.targetGroupArn];
}

/** Target health for every target group the cluster uses, keyed by target group ARN. */
export async function readClusterTargetHealth(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
): Promise<Map<string, TargetState[]>> {
  const arns = clusterTargetGroups(model);
  const entries = await Promise.all(arns.map(async (arn) => [arn, await readTargetHealth(elbv2, arn)] as const));
  return new Map(entries);
}
