import type { ElasticLoadBalancingV2Client, RuleCondition } from '@aws-sdk/client-elastic-load-balancing-v2';
import { createListenerRule, findExposedRules, readForwardAction } from '../aws/elbv2';
import type { ClusterModel } from '../domain/cluster-model';
import { ExposeConflictError, TrafficShiftError } from '../domain/errors';
import type { ExposeRule } from '../domain/plans/deploy-service';
import { CLUSTER_TAG_KEY, EXPOSES_TAG_KEY } from '../domain/tags';

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
  const ruleArn = await createListenerRule(elbv2, {
    listenerArn: model.traffic.listenerArn,
    priority: request.priority,
    conditions,
    action,
    tags: { [CLUSTER_TAG_KEY]: model.name, [EXPOSES_TAG_KEY]: request.service },
  });
  if (ruleArn === 'priority-in-use') {
    throw new ExposeConflictError(
      `Priority ${request.priority} on ${model.traffic.listenerArn} is taken by another rule; choose a free one`,
    );
  }
  return { ruleArn, created: true };
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
