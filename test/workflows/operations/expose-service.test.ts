import {
  CreateRuleCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  ElasticLoadBalancingV2ServiceException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import type { ClusterModel } from '../../../functions/domain/cluster-model';
import { ExposeConflictError, InputValidationError } from '../../../functions/domain/errors';
import { parseInput } from '../../../functions/domain/input';
import { exposeServiceInputSchema } from '../../../functions/domain/plans/deploy-service';
import { exposeService } from '../../../functions/operations/expose-service';
import { shiftTraffic } from '../../../functions/operations/shift-traffic';
import { injectError, throttlingError } from '../../../local/faults';
import { createMotoCluster } from '../../../local/moto-cluster';
import { useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const ORDERS = { service: 'orders-api', pathPatterns: ['/orders/*'], hostHeaders: [], priority: 10 };

/** The weights a rule forwards with, as `weight,weight,...` in the order of the cluster's slots. */
async function ruleWeights(model: ClusterModel, ruleArn: string): Promise<string> {
  const { Rules } = await elbv2Client.send(new DescribeRulesCommand({ RuleArns: [ruleArn] }));
  const groups = Rules?.[0]?.Actions?.find((action) => action.Type === 'forward')?.ForwardConfig?.TargetGroups ?? [];
  if (model.traffic.strategy !== 'weighted-target-groups') throw new Error('weighted cluster expected');
  return model.traffic.slots
    .map((slot) => groups.find((group) => group.TargetGroupArn === slot.targetGroupArn)?.Weight ?? 0)
    .join(',');
}

async function listenerRules(model: ClusterModel) {
  const { Rules } = await elbv2Client.send(new DescribeRulesCommand({ ListenerArn: model.traffic.listenerArn }));
  return (Rules ?? []).filter((rule) => !rule.IsDefault);
}

describe('exposeService', () => {
  useMoto();
  useFaults();

  it('creates a tagged rule for the service that forwards with the weights in place, once', async () => {
    const { model } = await createMotoCluster({ topology: 'active-active' });

    const first = await exposeService(elbv2Client, model, { ...ORDERS, hostHeaders: ['api.example.com'] });
    const retried = await exposeService(elbv2Client, model, { ...ORDERS, hostHeaders: ['api.example.com'] });

    expect(first.created).toBe(true);
    expect(retried).toEqual({ ruleArn: first.ruleArn, created: false });
    const rules = await listenerRules(model);
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Priority).toBe('10');
    expect(rules[0]?.Conditions?.map((condition) => condition.Field).sort()).toEqual(['host-header', 'path-pattern']);
    expect(await ruleWeights(model, first.ruleArn)).toBe('50,50,0');
    const { TagDescriptions } = await elbv2Client.send(new DescribeTagsCommand({ ResourceArns: [first.ruleArn] }));
    expect(TagDescriptions?.[0]?.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'zerodown:cluster', Value: 'test-cluster' },
        { Key: 'zerodown:exposes', Value: 'orders-api' },
      ]),
    );
  });

  it('keeps the rule in step with every shift of the cluster weights', async () => {
    const { model } = await createMotoCluster({ topology: 'active-passive' });
    const { ruleArn } = await exposeService(elbv2Client, model, ORDERS);

    await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 1 });

    expect(await ruleWeights(model, ruleArn)).toBe('0,100,0');
  });

  it('brings the rule along when a shift is retried after ModifyRule failed, and drains as the first try would', async () => {
    const { model } = await createMotoCluster({ topology: 'active-passive' });
    const { ruleArn } = await exposeService(elbv2Client, model, ORDERS);
    // moto cannot throttle: the error is injected, as if the SDK had already used up its own retries.
    injectError(elbv2Client, 'ModifyRuleCommand', throttlingError(ElasticLoadBalancingV2ServiceException), {
      times: 1,
      sdkRetriesExhausted: true,
    });
    const shift = { weights: { a: 0, b: 100 }, baselineServing: 1 };
    await expect(shiftTraffic(elbv2Client, model, shift)).rejects.toThrow('Rate exceeded');
    expect(await ruleWeights(model, ruleArn)).toBe('100,0,0');

    const retried = await shiftTraffic(elbv2Client, model, shift);

    expect(await ruleWeights(model, ruleArn)).toBe('0,100,0');
    expect(retried).toMatchObject({ changed: true, drainSeconds: 30 });
    const again = await shiftTraffic(elbv2Client, model, shift);
    expect(again).toMatchObject({ changed: false, drainSeconds: 0 });
  });

  it('leaves rules it did not create alone when shifting', async () => {
    const { model } = await createMotoCluster({ topology: 'active-passive' });
    if (model.traffic.strategy !== 'weighted-target-groups') throw new Error('weighted cluster expected');
    const [a] = model.traffic.slots;
    const { Rules } = await elbv2Client.send(
      new CreateRuleCommand({
        ListenerArn: model.traffic.listenerArn,
        Priority: 5,
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/admin/*'] } }],
        Actions: [
          { Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: a?.targetGroupArn, Weight: 1 }] } },
        ],
      }),
    );

    await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 1 });

    expect(await ruleWeights(model, Rules?.[0]?.RuleArn ?? '')).toBe('1,0,0');
  });

  it('refuses to expose a service again with other conditions', async () => {
    const { model } = await createMotoCluster();
    await exposeService(elbv2Client, model, ORDERS);

    await expect(exposeService(elbv2Client, model, { ...ORDERS, pathPatterns: ['/v2/orders/*'] })).rejects.toThrow(
      ExposeConflictError,
    );
    expect(await listenerRules(model)).toHaveLength(1);
  });

  it('refuses a priority another rule holds, naming it', async () => {
    const { model } = await createMotoCluster();
    await exposeService(elbv2Client, model, ORDERS);

    const taken = exposeService(elbv2Client, model, {
      ...ORDERS,
      service: 'billing-api',
      pathPatterns: ['/billing/*'],
    });

    await expect(taken).rejects.toThrow(ExposeConflictError);
    await expect(taken).rejects.toThrow('Priority 10');
  });

  it.each([
    [{ ...ORDERS, pathPatterns: [] }, 'pathPatterns must have at least 1 items'],
    [{ ...ORDERS, pathPatterns: ['orders'] }, 'pathPatterns[0] must be a path pattern starting with /'],
    [
      { ...ORDERS, pathPatterns: ['/a', '/b', '/c'], hostHeaders: ['x.example.com', 'y.example.com', 'z.example.com'] },
      'may have at most 5 path patterns and host headers in all',
    ],
    [{ ...ORDERS, priority: 0 }, 'priority'],
  ])('refuses a bad rule before touching anything: %j', (request, message) => {
    const parse = () => parseInput(exposeServiceInputSchema, { cluster: 'test-cluster', ...request }, 'expose-service');
    expect(parse).toThrow(InputValidationError);
    expect(parse).toThrow(message);
  });
});
