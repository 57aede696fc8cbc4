import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2ServiceException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { readWeights } from '../../../functions/aws/elbv2';
import { CapacityGuardError, InputValidationError } from '../../../functions/domain/errors';
import { describeWeights, isWeighted } from '../../../functions/domain/weights';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { shiftTraffic } from '../../../functions/operations/shift-traffic';
import { injectError, throttlingError, unhealthyTarget } from '../../../local/faults';
import { createMotoCluster } from '../../../local/moto-cluster';
import { useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';

async function weightsOf(model: Parameters<typeof shiftTraffic>[1]) {
  if (!isWeighted(model)) throw new Error('weighted cluster expected');
  return describeWeights(await readWeights(elbv2Client, model));
}

describe('shiftTraffic', () => {
  useMoto();
  useFaults();

  it('moves an active/passive cluster to its passive node and reads the weights back', async () => {
    const { model } = await createMotoCluster({ topology: 'active-passive' });

    const result = await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 1 });

    expect(result.changed).toBe(true);
    expect(describeWeights(result.weights)).toBe('a=0, b=100, surge=0');
    expect(describeWeights(result.previousWeights)).toBe('a=100, b=0, surge=0');
    expect(result.drainSeconds).toBe(30);
    expect(result.capacity).toMatchObject({ servingAfter: 1, requiredServing: 1, removesTraffic: true });
    expect(await weightsOf(model)).toBe('a=0, b=100, surge=0');
  });

  it('changes nothing when retried with the weights already in place', async () => {
    const { model } = await createMotoCluster();
    await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 } });

    const retried = await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 } });

    expect(retried.changed).toBe(false);
    expect(retried.drainSeconds).toBe(0);
  });

  it('refuses to move traffic to a passive node whose target is unhealthy, and leaves the weights alone', async () => {
    // moto reports every registered target healthy; the unhealthy passive is injected.
    const { model } = await createMotoCluster();
    const passive = model.nodes[1]?.instanceId ?? '';
    unhealthyTarget(passive);

    await expect(shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 } })).rejects.toThrow(CapacityGuardError);
    await expect(shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 } })).rejects.toThrow(
      /no healthy target|healthy node\(s\) would keep serving/,
    );
    expect(await weightsOf(model)).toBe('a=100, b=0, surge=0');
  });

  it('refuses to take a node out of an active/active cluster until a surge node serves', async () => {
    const { model } = await createMotoCluster({ topology: 'active-active' });

    await expect(shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 2 })).rejects.toThrow(
      '1 healthy node(s) would keep serving, but 2 are needed (75% of the 2 that served at the start)',
    );

    await launchSurgeNode({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, EXECUTION);
    await shiftTraffic(elbv2Client, model, { weights: { surge: 50 }, baselineServing: 2 });
    const result = await shiftTraffic(elbv2Client, model, { weights: { a: 0 }, baselineServing: 2 });

    expect(describeWeights(result.weights)).toBe('a=0, b=50, surge=50');
    expect(result.capacity.servingAfter).toBe(2);
  });

  it('refuses to set every weight to 0', async () => {
    const { model } = await createMotoCluster();
    await expect(shiftTraffic(elbv2Client, model, { weights: { a: 0 } })).rejects.toThrow('would serve nothing');
  });

  it('names an unknown slot before touching anything', async () => {
    const { model } = await createMotoCluster();
    await expect(shiftTraffic(elbv2Client, model, { weights: { c: 100 } })).rejects.toThrow(InputValidationError);
    await expect(shiftTraffic(elbv2Client, model, { weights: { c: 100 } })).rejects.toThrow('weights.c names no slot');
  });

  it('rides out throttling of ModifyListener through the SDK retries', async () => {
    const { model } = await createMotoCluster();
    const throttle = injectError(
      elbv2Client,
      'ModifyListenerCommand',
      throttlingError(ElasticLoadBalancingV2ServiceException),
      {
        times: 2,
      },
    );

    const result = await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 } });

    expect(throttle.hits).toBe(2);
    expect(describeWeights(result.weights)).toBe('a=0, b=100, surge=0');
  });

  describe('single target group', () => {
    it('deregisters a node when the others can carry the load', async () => {
      const { model } = await createMotoCluster({ topology: 'active-active', strategy: 'single-target-group' });
      const [first] = model.nodes;
      const newcomer = (await launchSurgeNode({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, EXECUTION))
        .instanceId;

      await shiftTraffic(elbv2Client, model, { register: [newcomer] });
      const result = await shiftTraffic(elbv2Client, model, {
        deregister: [first?.instanceId ?? ''],
        baselineServing: 2,
      });

      expect(result.drainSeconds).toBe(30);
      const health = await elbv2Client.send(
        new DescribeTargetHealthCommand({
          TargetGroupArn: model.traffic.strategy === 'single-target-group' ? model.traffic.targetGroupArn : '',
        }),
      );
      const states = Object.fromEntries(
        (health.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id, d.TargetHealth?.State]),
      );
      expect(states[newcomer]).toBe('healthy');
      expect(states[first?.instanceId ?? '']).not.toBe('healthy');
    });

    it('refuses to deregister a node that the remaining capacity cannot spare', async () => {
      const { model } = await createMotoCluster({ topology: 'active-active', strategy: 'single-target-group' });
      await expect(
        shiftTraffic(elbv2Client, model, { deregister: [model.nodes[0]?.instanceId ?? ''], baselineServing: 2 }),
      ).rejects.toThrow(CapacityGuardError);
    });
  });
});
