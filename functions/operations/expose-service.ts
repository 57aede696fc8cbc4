import {
  CreateRuleCommand,
  type ElasticLoadBalancingV2Client,
  PriorityInUseException,
  type RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CLUSTER_TAG_KEY, type ClusterModel } from './cluster-model';
import { ExposeConflictError, TrafficShiftError } from './errors';
import { EXPOSES_TAG_KEY, findExposedRules } from './exposed-rules';
import type { ExposeRule } from './plans/deploy-service';
import { readForwardAction } from './traffic';

export interface ExposeResult {
  readonly ruleArn: string;
  /** False when the rule was already there, as on a retried call. */
  readonly created: boolean;
}

/**
 * Creates the listener rule that exposes `service`, forwarding to the cluster's target groups with the weights
 * they have now, tagged so that every later shift keeps its weights in step. Calling it again with the same rule
 * returns the rule that is there; a different rule for the service, or a priority another rule holds, is refused.
 */
export async function exposeService(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  request: ExposeRule & { service: string },
): Promise<ExposeResult> {
  const conditions = conditionsOf(request);
  const existing = (await findExposedRules(elbv2, model)).find((rule) => rule.service === request.service);
  if (existing) {
    if (existing.priority === String(request.priority) && sameConditions(existing.rule.Conditions ?? [], conditions)) {
      return { ruleArn: existing.ruleArn, created: false };
    }
    throw new ExposeConflictError(
      `Service "${request.service}" is already exposed by ${existing.ruleArn} (priority ${existing.priority}) with ` +
        'other conditions; delete that rule first, or expose the service with the same conditions and priority',
    );
  }
  const forward = await readForwardAction(elbv2, model);
  if (!forward)
    throw new TrafficShiftError(`The cluster's listener ${model.traffic.listenerArn} has no forward action`);
  const { Order: _order, ...action } = forward;
  try {
    const response = await elbv2.send(
      new CreateRuleCommand({
        ListenerArn: model.traffic.listenerArn,
        Priority: request.priority,
        Conditions: conditions,
        Actions: [action],
        Tags: [
          { Key: CLUSTER_TAG_KEY, Value: model.name },
          { Key: EXPOSES_TAG_KEY, Value: request.service },
        ],
      }),
    );
    const ruleArn = response.Rules?.[0]?.RuleArn;
    if (!ruleArn) throw new TrafficShiftError('CreateRule returned no rule');
    return { ruleArn, created: true };
  } catch (error) {
    if (error instanceof PriorityInUseException) {
      throw new ExposeConflictError(
        `Priority ${request.priority} on ${model.traffic.listenerArn} is taken by another rule; choose a free one`,
        { cause: error },
      );
    }
    throw error;
  }
}

function conditionsOf(rule: ExposeRule): RuleCondition[] {
  return [
    { Field: 'path-pattern', PathPatternConfig: { Values: [...rule.pathPatterns] } },
    ...(rule.hostHeaders.length > 0
      ? [{ Field: 'host-header', HostHeaderConfig: { Values: [...rule.hostHeaders] } }]
      : []),
  ];
}

/** Compares conditions by field and values; the API may return values in either of its two places. */
function sameConditions(actual: readonly RuleCondition[], wanted: readonly RuleCondition[]): boolean {
  const normalize = (conditions: readonly RuleCondition[]) =>
    conditions
      .map((condition) => {
        const values = condition.PathPatternConfig?.Values ?? condition.HostHeaderConfig?.Values ?? condition.Values;
        return `${condition.Field}=${[...(values ?? [])].sort().join(',')}`;
      })
      .sort()
      .join(';');
  return normalize(actual) === normalize(wanted);
}
