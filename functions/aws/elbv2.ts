import {
  type Action,
  CreateRuleCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyRuleCommand,
  PriorityInUseException,
  RegisterTargetsCommand,
  type Rule,
  type RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ClusterModel } from '../domain/cluster-model';
import { TrafficShiftError } from '../domain/errors';
import { CLUSTER_TAG_KEY, EXPOSES_TAG_KEY } from '../domain/tags';
import {
  clusterTargetGroups,
  describeWeights,
  type SlotWeight,
  type TargetState,
  type WeightedListener,
  type WeightedModel,
  weightedListeners,
} from '../domain/weights';

type TrafficEntry = Pick<WeightedListener, 'listenerArn' | 'ruleArn'>;

/** The actions that carry a listener's share of the cluster's traffic: the rule's, or the listener's default ones. */
async function readActions(elbv2: ElasticLoadBalancingV2Client, entry: TrafficEntry): Promise<Action[]> {
  if (entry.ruleArn) {
    const rules = await elbv2.send(new DescribeRulesCommand({ RuleArns: [entry.ruleArn] }));
    return rules.Rules?.[0]?.Actions ?? [];
  }
  const listeners = await elbv2.send(new DescribeListenersCommand({ ListenerArns: [entry.listenerArn] }));
  return listeners.Listeners?.[0]?.DefaultActions ?? [];
}

/** The forward action that carries the cluster's traffic on its (first) listener, if there is one. */
export async function readForwardAction(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
): Promise<Action | undefined> {
  return (await readActions(elbv2, model.traffic)).find((action) => action.Type === 'forward');
}

function forwardTargets(actions: Action[]): { TargetGroupArn?: string; Weight?: number }[] {
  const forward = actions.find((action) => action.Type === 'forward');
  if (!forward) return [];
  if (forward.ForwardConfig?.TargetGroups?.length) return forward.ForwardConfig.TargetGroups;
  return forward.TargetGroupArn ? [{ TargetGroupArn: forward.TargetGroupArn, Weight: 1 }] : [];
}

export interface ListenerWeights {
  readonly listener: WeightedListener;
  /** Each slot's weight behind this listener, with this listener's target group of the slot. */
  readonly weights: SlotWeight[];
}

/** Every slot's weight as each of the cluster's listeners (or rules) holds it now. Slots missing from one weigh 0. */
export async function readListenerWeights(
  elbv2: ElasticLoadBalancingV2Client,
  model: WeightedModel,
): Promise<ListenerWeights[]> {
  return Promise.all(
    weightedListeners(model).map(async (listener) => {
      const targets = forwardTargets(await readActions(elbv2, listener));
      return {
        listener,
        weights: model.traffic.slots.map((slot) => {
          const targetGroupArn = listener.targetGroups[slot.name] ?? slot.targetGroupArn;
          const weight = targets.find((target) => target.TargetGroupArn === targetGroupArn)?.Weight ?? 0;
          return { slot: slot.name, targetGroupArn, weight };
        }),
      };
    }),
  );
}

/**
 * The weight of every slot, keyed by its target group behind the cluster's listener. Where the listeners disagree (a
 * shift that stopped between two of them), a slot weighs the most any listener gives it: a slot that still takes
 * traffic anywhere must not look idle to a step that is about to take its node away.
 */
export function mergedWeights(model: WeightedModel, listeners: readonly ListenerWeights[]): SlotWeight[] {
  return model.traffic.slots.map((slot) => ({
    slot: slot.name,
    targetGroupArn: slot.targetGroupArn,
    weight: Math.max(0, ...listeners.map((entry) => weightOfSlot(entry.weights, slot.name))),
  }));
}

const weightOfSlot = (weights: readonly SlotWeight[], slot: string) =>
  weights.find((entry) => entry.slot === slot)?.weight ?? 0;

/** Whether one listener holds exactly the weights given for every slot. */
export function holdsWeights(entry: ListenerWeights, weights: readonly Pick<SlotWeight, 'slot' | 'weight'>[]): boolean {
  return weights.every((wanted) => weightOfSlot(entry.weights, wanted.slot) === wanted.weight);
}

export async function readWeights(elbv2: ElasticLoadBalancingV2Client, model: WeightedModel): Promise<SlotWeight[]> {
  return mergedWeights(model, await readListenerWeights(elbv2, model));
}

/**
 * Writes the weights into the forward action of every listener of the cluster, keeping every other action
 * (authentication, for one) and the stickiness settings as they are, and reads all of them back: a shift is done
 * only when the load balancer says so on every port. A listener that already holds the weights (a retry after a
 * shift that stopped halfway) is not written again.
 */
export async function writeWeights(
  elbv2: ElasticLoadBalancingV2Client,
  model: WeightedModel,
  weights: readonly SlotWeight[],
): Promise<SlotWeight[]> {
  for (const entry of await readListenerWeights(elbv2, model)) {
    if (!holdsWeights(entry, weights)) await writeListenerWeights(elbv2, entry.listener, weights);
  }

  const readBack = await readListenerWeights(elbv2, model);
  for (const entry of readBack) {
    if (!holdsWeights(entry, weights)) {
      const on = readBack.length > 1 ? ` on listener "${entry.listener.name}"` : '';
      throw new TrafficShiftError(
        `The load balancer did not take the new weights${on}: wrote ${describeWeights(weights)}, read back ${describeWeights(entry.weights)}`,
      );
    }
  }
  await repairExposedRules(elbv2, model, weights);
  return mergedWeights(model, readBack);
}

async function writeListenerWeights(
  elbv2: ElasticLoadBalancingV2Client,
  listener: WeightedListener,
  weights: readonly SlotWeight[],
): Promise<void> {
  const actions = await readActions(elbv2, listener);
  const forwardIndex = actions.findIndex((action) => action.Type === 'forward');
  const forward = actions[forwardIndex];
  const updated: Action = {
    Type: 'forward',
    ...(forward?.Order !== undefined ? { Order: forward.Order } : {}),
    ForwardConfig: {
      TargetGroups: weights.map((entry) => ({
        TargetGroupArn: listener.targetGroups[entry.slot] ?? entry.targetGroupArn,
        Weight: entry.weight,
      })),
      ...(forward?.ForwardConfig?.TargetGroupStickinessConfig
        ? { TargetGroupStickinessConfig: forward.ForwardConfig.TargetGroupStickinessConfig }
        : {}),
    },
  };
  const next = forwardIndex >= 0 ? actions.map((action, i) => (i === forwardIndex ? updated : action)) : [updated];
  if (listener.ruleArn) {
    await elbv2.send(new ModifyRuleCommand({ RuleArn: listener.ruleArn, Actions: next }));
  } else {
    await elbv2.send(new ModifyListenerCommand({ ListenerArn: listener.listenerArn, DefaultActions: next }));
  }
}

/**
 * Gives every rule that exposes one of the cluster's services the weights of the cluster's forward action, and checks
 * they took them. Rules already on those weights are left alone. A shift calls this whether or not the listener
 * changed: a retry after a failed `ModifyRule` finds the listener done and must still bring the rules along.
 */
export async function repairExposedRules(
  elbv2: ElasticLoadBalancingV2Client,
  model: WeightedModel,
  weights: readonly SlotWeight[],
): Promise<{ repaired: number; removedTraffic: boolean }> {
  const rules = (await findExposedRules(elbv2, model)).filter(
    (rule) => !tookWeights(forwardTargets(rule.rule.Actions ?? []), weights),
  );
  if (rules.length === 0) return { repaired: 0, removedTraffic: false };
  // A rule that sent traffic to a slot now at 0 leaves connections there to drain, as a listener shift does.
  const removedTraffic = rules.some((rule) => {
    const before = forwardTargets(rule.rule.Actions ?? []);
    return weights.some(
      (entry) =>
        entry.weight === 0 &&
        (before.find((target) => target.TargetGroupArn === entry.targetGroupArn)?.Weight ?? 0) > 0,
    );
  });
  const forward = (await readActions(elbv2, model.traffic)).find((action) => action.Type === 'forward');
  if (!forward) throw new TrafficShiftError('The cluster has no forward action to mirror into its exposed rules');
  await mirrorForwardAction(elbv2, rules, forward);
  const readBack = await elbv2.send(new DescribeRulesCommand({ RuleArns: rules.map((rule) => rule.ruleArn) }));
  for (const rule of readBack.Rules ?? []) {
    if (!tookWeights(forwardTargets(rule.Actions ?? []), weights)) {
      throw new TrafficShiftError(`The rule ${rule.RuleArn} exposing a service did not take the new weights`);
    }
  }
  return { repaired: rules.length, removedTraffic };
}

/** Whether the forward targets read back carry every weight written. */
function tookWeights(targets: readonly { TargetGroupArn?: string; Weight?: number }[], written: readonly SlotWeight[]) {
  return written.every(
    (entry) => targets.find((target) => target.TargetGroupArn === entry.targetGroupArn)?.Weight === entry.weight,
  );
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

/** Target health for every target group the cluster uses, keyed by target group ARN. */
export async function readClusterTargetHealth(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
): Promise<Map<string, TargetState[]>> {
  const arns = clusterTargetGroups(model);
  const entries = await Promise.all(arns.map(async (arn) => [arn, await readTargetHealth(elbv2, arn)] as const));
  return new Map(entries);
}

/** Registers the instances in one target group, or in each of a slot's target groups. */
export async function registerTargets(
  elbv2: ElasticLoadBalancingV2Client,
  targetGroups: string | readonly string[],
  instanceIds: readonly string[],
): Promise<void> {
  if (instanceIds.length === 0) return;
  const arns = typeof targetGroups === 'string' ? [targetGroups] : targetGroups;
  await Promise.all(
    arns.map((TargetGroupArn) =>
      elbv2.send(new RegisterTargetsCommand({ TargetGroupArn, Targets: instanceIds.map((Id) => ({ Id })) })),
    ),
  );
}

export async function deregisterTargets(
  elbv2: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  instanceIds: readonly string[],
): Promise<void> {
  if (instanceIds.length === 0) return;
  await elbv2.send(
    new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: instanceIds.map((Id) => ({ Id })) }),
  );
}

/**
 * Deregisters the instance from each target group it is registered in (and not already draining from): true when
 * it was deregistered from any of them now.
 */
export async function deregisterIfRegistered(
  elbv2: ElasticLoadBalancingV2Client,
  targetGroups: string | readonly string[],
  instanceId: string,
): Promise<boolean> {
  const arns = typeof targetGroups === 'string' ? [targetGroups] : targetGroups;
  const deregistered = await Promise.all(
    arns.map(async (targetGroupArn) => {
      const registered = (await readTargetHealth(elbv2, targetGroupArn)).some(
        (target) => target.instanceId === instanceId && target.state !== 'draining',
      );
      if (registered) await deregisterTargets(elbv2, targetGroupArn, [instanceId]);
      return registered;
    }),
  );
  return deregistered.some(Boolean);
}

/**
 * Listener rules that expose one service of the cluster (deploy-service creates them). They forward to the cluster's
 * target groups with the cluster's weights, so every shift mirrors its weights into them: a rule that kept old
 * weights would send traffic to a node the workflow had just drained.
 */

/** DescribeTags takes at most 20 resource ARNs per call. */
const TAGS_PER_CALL = 20;

export interface ExposedRule {
  readonly ruleArn: string;
  readonly service: string;
  readonly priority: string;
  readonly rule: Rule;
}

/** Every rule on the cluster's listener tagged as exposing a service of this cluster. */
export async function findExposedRules(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
): Promise<ExposedRule[]> {
  const rules: Rule[] = [];
  let marker: string | undefined;
  do {
    const page = await elbv2.send(
      new DescribeRulesCommand({ ListenerArn: model.traffic.listenerArn, ...(marker ? { Marker: marker } : {}) }),
    );
    rules.push(...(page.Rules ?? []));
    marker = page.NextMarker;
  } while (marker);

  const candidates = rules.filter((rule) => !rule.IsDefault && rule.RuleArn && rule.RuleArn !== model.traffic.ruleArn);
  const exposed: ExposedRule[] = [];
  for (let start = 0; start < candidates.length; start += TAGS_PER_CALL) {
    const batch = candidates.slice(start, start + TAGS_PER_CALL);
    const tags = await elbv2.send(new DescribeTagsCommand({ ResourceArns: batch.map((rule) => rule.RuleArn ?? '') }));
    for (const description of tags.TagDescriptions ?? []) {
      const value = (key: string) => description.Tags?.find((tag) => tag.Key === key)?.Value;
      const rule = batch.find((candidate) => candidate.RuleArn === description.ResourceArn);
      const service = value(EXPOSES_TAG_KEY);
      if (rule?.RuleArn && service && value(CLUSTER_TAG_KEY) === model.name) {
        exposed.push({ ruleArn: rule.RuleArn, service, priority: rule.Priority ?? '', rule });
      }
    }
  }
  return exposed;
}

/** Replaces the forward action of every exposing rule with `forward`, keeping the rules' other actions. */
export async function mirrorForwardAction(
  elbv2: ElasticLoadBalancingV2Client,
  rules: readonly ExposedRule[],
  forward: Action,
): Promise<void> {
  for (const { ruleArn, rule } of rules) {
    const actions = rule.Actions ?? [];
    const index = actions.findIndex((action) => action.Type === 'forward');
    const order = actions[index]?.Order;
    const mirrored: Action = { ...forward, ...(order !== undefined ? { Order: order } : {}) };
    const next = index >= 0 ? actions.map((action, i) => (i === index ? mirrored : action)) : [mirrored];
    await elbv2.send(new ModifyRuleCommand({ RuleArn: ruleArn, Actions: next }));
  }
}

/**
 * Creates a listener rule with one action and its tags. Answers the rule's ARN, or `priority-in-use` when another
 * rule of the listener has the priority, which the caller reports in its own terms.
 */
export async function createListenerRule(
  elbv2: ElasticLoadBalancingV2Client,
  rule: {
    listenerArn: string;
    priority: number;
    conditions: RuleCondition[];
    action: Action;
    tags: Record<string, string>;
  },
): Promise<string> {
  try {
    const response = await elbv2.send(
      new CreateRuleCommand({
        ListenerArn: rule.listenerArn,
        Priority: rule.priority,
        Conditions: rule.conditions,
        Actions: [rule.action],
        Tags: Object.entries(rule.tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    const ruleArn = response.Rules?.[0]?.RuleArn;
    if (!ruleArn) throw new TrafficShiftError('CreateRule returned no rule');
    return ruleArn;
  } catch (error) {
    if (error instanceof PriorityInUseException) return 'priority-in-use';
    throw error;
  }
}
