import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { loadClusterModel } from '../../functions/aws/ssm';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { readLock } from '../../functions/domain/lock';
import { failedCommand, unhealthyTarget } from '../../local/faults';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { FAILOVER_STATES } from '../../statemachines/failover';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
import { workflowFixture } from '../harness/workflow-fixture';

const RECONFIGURE_DOCUMENT = 'zerodown-test-reconfigure';

/** The test cluster's model with a reconfigure command of the user's own, as its Members and Manager parameters. */
const withReconfigure = (model: ClusterModelInput): ClusterModelInput => ({
  ...model,
  commands: { ...model.commands, reconfigure: { documentName: RECONFIGURE_DOCUMENT, documentVersion: '1' } },
});

describe('failover: reconfigure after a replacement is adopted', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { lockStore, prepare, run, weights, failureOf } = workflowFixture({
    stateMachine: 'failover',
    defaultInput: { slot: 'a', alarmName: 'zerodown-test-cluster-node-a-lost', detectedAt: '2026-11-26T04:00:00Z' },
    onCommand: () => undefined,
  });

  function kill(simulated: SimulatedNodes, instanceId: string) {
    const node = simulated.nodes.get(instanceId);
    if (node) node.healthStatus = 503;
    unhealthyTarget(instanceId);
  }

  async function privateIpOf(instanceId: string): Promise<string> {
    const response = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return response.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? '';
  }

  /** The cluster after the failover: its nodes in the model's order, the lost node's slot filled by another. */
  async function nodesAfter(cluster: MotoCluster, lost: string, slot = 'a') {
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    const replacement = model.nodes.find((node) => node.slot === slot)?.instanceId ?? '';
    expect(replacement).not.toBe(lost);
    return { model, replacement };
  }

  it('sends reconfigure to every node, the replacement included, with the new member list and manager', async () => {
    const { cluster, simulated } = await prepare('active-passive', { customize: withReconfigure });
    // The runbook's manager is the passive node, in slot b; the worker in slot a serves. The manager is lost.
    const manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId;
    const worker = cluster.model.nodes.find((node) => node.role === 'worker')?.instanceId;
    kill(simulated, manager ?? '');

    const execution = await run({ slot: 'b', alarmName: 'zerodown-test-cluster-node-b-lost' });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const { model, replacement } = await nodesAfter(cluster, manager ?? '', 'b');
    const [sent, ...others] = simulated.commands.filter((command) => command.documentName === RECONFIGURE_DOCUMENT);
    expect(others).toEqual([]);
    // Every permanent node as the model names them now: the worker and the replacement (the new manager, in slot b).
    expect([...(sent?.instanceIds ?? [])].sort()).toEqual([replacement, worker].sort());
    const members = await Promise.all(model.nodes.map((node) => privateIpOf(node.instanceId)));
    expect(sent?.parameters).toEqual({ Members: [members.join(',')], Manager: [await privateIpOf(replacement)] });
    expect(sent?.parameters.Members?.[0]).not.toContain(cluster.privateIps[manager ?? ''] ?? 'none');
    expect(sent?.parameters.Manager?.[0]).not.toBe(cluster.privateIps[manager ?? ''] ?? 'none');

    // After the adoption and the steady weights, before the lock is released.
    const at = (state: string) => execution.path.indexOf(state);
    expect(at(FAILOVER_STATES.leaveSurgeSlot)).toBeGreaterThan(-1);
    expect(at(FAILOVER_STATES.reconfigure)).toBeGreaterThan(at(FAILOVER_STATES.leaveSurgeSlot));
    expect(at(FAILOVER_STATES.reconfigure)).toBeLessThan(at('Release the cluster lock'));
    expect(execution.path).toContain('Note that every node is reconfigured');
    // The lost manager was passive: the worker in slot a keeps serving, and no traffic moved.
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('skips reconfigure cleanly when the model has no such command', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, active ?? '');
    const published = await topicEvents();

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('No reconfigure command to run');
    expect(execution.path).not.toContain('Report that reconfigure failed');
    expect(simulated.commands).toEqual([]);
    await nodesAfter(cluster, active ?? '');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    const end = (await published()).find((event) => event.step === 'Failover complete');
    expect(end?.detail).toMatchObject({
      reconfigure: { status: 'skipped', reason: 'the cluster model has no reconfigure command' },
    });
  });

  it('reports a reconfigure that fails, and leaves the traffic moved, the slot filled and the lock released', async () => {
    const { cluster, simulated } = await prepare('active-active', { customize: withReconfigure });
    const [first, second] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, first ?? '');
    // The survivor's kit refuses the new member list.
    failedCommand(second ?? '', { output: 'reconfigure failed: deployment.toml has no [clustering] section' });
    const published = await topicEvents();

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('Failover complete');
    expect(execution.path).toContain('Report that reconfigure failed');
    expect(execution.path).not.toContain('Roll back: release the cluster lock');
    // The replacement serves in the lost slot, and nothing was rolled back.
    await nodesAfter(cluster, first ?? '');
    expect(await weights(cluster)).toBe('a=50, b=50, surge=0');
    expect(await readLock(lockStore(), cluster.model.name)).toBeUndefined();

    const events = await published();
    const failure = events.find((event) => event.outcome === 'attention');
    expect(failure).toMatchObject({
      workflow: 'failover',
      step: expect.stringMatching(/^Reconfigure failed: the traffic stays moved/),
      error: { name: 'CommandFailedError', cause: expect.stringContaining('has no [clustering] section') },
      detail: { slot: 'a', lostInstanceId: first, failedStep: 'Check the reconfigure command' },
    });
    const end = events.find((event) => event.step === 'Failover complete');
    expect(end?.detail).toMatchObject({ reconfigure: { status: 'failed', error: 'CommandFailedError' } });
  });
});
