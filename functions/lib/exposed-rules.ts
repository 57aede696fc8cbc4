import {
  type Action,
  DescribeRulesCommand,
  DescribeTagsCommand,
  type ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ClusterModel } from './cluster-model';
import { CLUSTER_TAG_KEY } from './cluster-model';

/**
 * Listener rules that expose one service of the cluster (deploy-service creates them). They forward to the cluster's
 * target groups with the cluster's weights, so every shift mirrors its weights into them: a rule that kept old
 * weights would send traffic to a node the workflow had just drained.
 */

/** Tag on an exposing rule; its value is the service's name. */
export const EXPOSES_TAG_KEY = 'zerodown:exposes';

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
