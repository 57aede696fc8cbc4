import {
  DescribeListenersCommand,
  DescribeTargetHealthCommand,
  ModifyListenerCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { readWeights, writeWeights } from '../../../functions/aws/elbv2';
import { CapacityGuardError } from '../../../functions/domain/errors';
import { describeWeights, requireWeighted } from '../../../functions/domain/weights';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { targetCheck } from '../../../functions/operations/node-checks';
import { retireSurgeNode } from '../../../functions/operations/retire-node';
import { shiftTraffic } from '../../../functions/operations/shift-traffic';
import { snapshotCluster } from '../../../functions/operations/snapshot-cluster';
import { injectError, unhealthyTarget } from '../../../local/faults';
import { createMotoCluster, type MotoCluster } from '../../../local/moto-cluster';
import { useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';

/** The weights a listener holds, by the slot each of its target groups belongs to. */
async function listenerWeights(listenerArn: string, targetGroups: Record<string, string>): Promise<string> {
  const described = await elbv2Client.send(new DescribeListenersCommand({ ListenerArns: [listenerArn] }));
  const forward = described.Listeners?.[0]?.DefaultActions?.find((action) => action.Type === 'forward');
  const weights = forward?.ForwardConfig?.TargetGroups ?? [];
  return Object.entries(targetGroups)
    .map(([slot, arn]) => `${slot}=${weights.find((entry) => entry.TargetGroupArn === arn)?.Weight ?? 0}`)
    .join(', ');
}

async function registered(targetGroupArn: string): Promise<string[]> {
  const health = await elbv2Client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (health.TargetHealthDescriptions ?? [])
    .filter((description) => description.TargetHealth?.State !== 'draining')
    .map((description) => description.Target?.Id ?? '');
}

function management(cluster: MotoCluster) {
  if (!cluster.management) throw new Error('a cluster with a management listener expected');
  return cluster.management;
}

/**
 * A cluster served on two ports (a gateway listener and a management listener, as WSO2 API Manager is), each with its
 * own target group per slot: every shift moves both, and a node counts as serving only when both find it healthy.
 */
describe('a cluster behind two listeners', () => {
  useMoto();
  useFaults();

  it('re-weights the management listener with the gateway listener and reads both back', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive', managementListener: true });

    const result = await shiftTraffic(elbv2Client, cluster.model, { weights: { a: 0, b: 100 }, baselineServing: 1 });

    expect(result.changed).toBe(true);
    expect(describeWeights(result.weights)).toBe('a=0, b=100, surge=0');
    expect(await listenerWeights(cluster.model.traffic.listenerArn, cluster.targetGroups)).toBe('a=0, b=100, surge=0');
    const { listenerArn, targetGroups } = management(cluster);
    expect(await listenerWeights(listenerArn, targetGroups)).toBe('a=0, b=100, surge=0');
  });

  it('finishes a shift that stopped between the two listeners when it is retried', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive', managementListener: true });
    const { model } = cluster;
    requireWeighted(model);
    const { listenerArn, targetGroups } = management(cluster);
    // The Lambda stops after the gateway listener took the weights: the management listener's write never happens.
    const crash = injectError(elbv2Client, 'ModifyListenerCommand', () => new Error('Lambda timed out (injected)'), {
      when: (input: { ListenerArn?: string }) => input.ListenerArn === listenerArn,
    });
    await expect(shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 1 })).rejects.toThrow(
      'Lambda timed out (injected)',
    );
    crash.remove();
    expect(await listenerWeights(listenerArn, targetGroups)).toBe('a=100, b=0, surge=0');
    // Until then, a slot weighs the most any listener gives it: node a still serves management calls.
    expect(describeWeights(await readWeights(elbv2Client, model))).toBe('a=100, b=100, surge=0');

    const retried = await shiftTraffic(elbv2Client, model, { weights: { a: 0, b: 100 }, baselineServing: 1 });

    expect(retried.changed).toBe(true);
    expect(retried.drainSeconds).toBe(30);
    expect(await listenerWeights(listenerArn, targetGroups)).toBe('a=0, b=100, surge=0');
    expect(describeWeights(await readWeights(elbv2Client, model))).toBe('a=0, b=100, surge=0');
  });

  it('refuses to move traffic to a node that only its management target group finds unhealthy', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive', managementListener: true });
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    const managementGroupOfB = management(cluster).targetGroups.b;
    unhealthyTarget(passive, { when: (input) => input.TargetGroupArn === managementGroupOfB });

    await expect(
      shiftTraffic(elbv2Client, cluster.model, { weights: { a: 0, b: 100 }, baselineServing: 1 }),
    ).rejects.toThrow(CapacityGuardError);
    const check = await targetCheck(elbv2Client, cluster.model, { instanceId: passive, state: 'running', tags: {} });
    expect(check).toEqual({
      check: 'target health',
      passed: false,
      detail: `unhealthy (Target.FailedHealthChecks) in target group ${managementGroupOfB}`,
    });
    const snapshot = await snapshotCluster(clients, cluster.model);
    expect(snapshot.nodes.find((node) => node.instanceId === passive)?.targetHealth).toBe('unhealthy');
  });

  it('registers a surge node in the surge slot of both listeners, and retires it from both', async () => {
    const cluster = await createMotoCluster({ topology: 'active-active', managementListener: true });
    const surgeGroups = [cluster.targetGroups.surge ?? '', management(cluster).targetGroups.surge ?? ''];

    const node = await launchSurgeNode(clients, cluster.model, EXECUTION);
    for (const group of surgeGroups) expect(await registered(group)).toEqual([node.instanceId]);

    // While either listener still sends the surge slot traffic, the node stays.
    const model = cluster.model;
    requireWeighted(model);
    const { listenerArn, targetGroups } = management(cluster);
    const managementWeights = { a: 45, b: 45, surge: 10 };
    await elbv2Client.send(
      new ModifyListenerCommand({
        ListenerArn: listenerArn,
        DefaultActions: [
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: Object.entries(managementWeights).map(([slot, Weight]) => ({
                TargetGroupArn: targetGroups[slot],
                Weight,
              })),
            },
          },
        ],
      }),
    );
    await expect(
      retireSurgeNode(clients, model, { instanceId: node.instanceId, action: 'deregister' }),
    ).rejects.toThrow(CapacityGuardError);
    for (const group of surgeGroups) expect(await registered(group)).toEqual([node.instanceId]);

    await writeWeights(elbv2Client, model, [
      { slot: 'a', targetGroupArn: cluster.targetGroups.a ?? '', weight: 50 },
      { slot: 'b', targetGroupArn: cluster.targetGroups.b ?? '', weight: 50 },
      { slot: 'surge', targetGroupArn: cluster.targetGroups.surge ?? '', weight: 0 },
    ]);
    await retireSurgeNode(clients, model, { instanceId: node.instanceId, action: 'deregister' });
    for (const group of surgeGroups) expect(await registered(group)).toEqual([]);
  });
});
