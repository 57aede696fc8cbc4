import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { loadClusterModel } from '../../functions/aws/ssm';
import { readLock } from '../../functions/domain/lock';
import { CLUSTER_TAG_KEY, ROLE_TAG_KEY, SLOT_TAG_KEY } from '../../functions/domain/tags';
import { assessNodeLoss } from '../../functions/operations/confirm-node-loss';
import { launchSurgeNode } from '../../functions/operations/launch-surge-node';
import { unfinishedCommands, unhealthyTarget } from '../../local/faults';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

const DETECTED_AT = '2026-11-26T04:00:00Z';
const PATCH_EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server';

describe('failover', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { stack, lockStore, holdLock, prepare, run, weights, failureOf } = workflowFixture({
    stateMachine: 'failover',
    defaultInput: { slot: 'a', alarmName: 'zerodown-test-cluster-node-a-lost', detectedAt: DETECTED_AT },
    onCommand: () => undefined,
  });

  /** The node stops answering its health checks, and the load balancer sees its target fail too. */
  function kill(simulated: SimulatedNodes, instanceId: string) {
    const node = simulated.nodes.get(instanceId);
    if (node) node.healthStatus = 503;
    // moto reports every registered target healthy; the dead node's target is made unhealthy here.
    unhealthyTarget(instanceId);
  }

  /** Reads the weights when the execution enters `state`, and keeps what it read. */
  function weightsWhenEntering(cluster: MotoCluster, state: string) {
    const seen: { weights?: string } = {};
    const onEvent = (event: Parameters<NonNullable<Parameters<typeof run>[1]>>[0]) => {
      if (event.type === 'StateEntered' && event.state.name === state) {
        void weights(cluster).then((read) => {
          seen.weights = read;
        });
      }
    };
    return { seen, onEvent };
  }

  async function tagsOf(instanceId: string) {
    const response = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const tags = response.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
    return Object.fromEntries(tags.map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  }

  /** The replacement holds the lost node's slot and role, no surge node is left, and the lock is free. */
  async function expectReplaced(cluster: MotoCluster, execution: LocalExecutionResult, lost: string) {
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    const lostNode = cluster.model.nodes.find((node) => node.instanceId === lost);
    const slotNode = model.nodes.find((node) => node.slot === lostNode?.slot);
    const replacement = slotNode?.instanceId ?? '';
    expect(replacement).not.toBe(lost);
    expect(replacement).toMatch(/^i-/);
    expect(await tagsOf(replacement)).toMatchObject({
      [CLUSTER_TAG_KEY]: cluster.model.name,
      [ROLE_TAG_KEY]: lostNode?.role,
      [SLOT_TAG_KEY]: lostNode?.slot,
    });
    expect((await tagsOf(lost))[ROLE_TAG_KEY]).toBe('lost');
    expect(await findSurgeNodes(ec2Client, model)).toEqual([]);
    expect(await readLock(lockStore(), cluster.model.name)).toBeUndefined();
    expect(execution.path.indexOf('Move traffic to the survivors')).toBeLessThan(
      execution.path.indexOf('Launch the replacement node'),
    );
    return replacement;
  }

  it('active/passive: moves all traffic to the passive node, then makes a replacement the new passive node', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, active ?? '');
    const whileReplacing = weightsWhenEntering(cluster, 'Launch the replacement node');

    const execution = await run({}, whileReplacing.onEvent);

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('Failover complete');
    expect(whileReplacing.seen.weights).toBe('a=0, b=100, surge=0');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    await expectReplaced(cluster, execution, active ?? '');
  });

  it('active/active: takes the lost node out, then returns its slot to service with the replacement', async () => {
    const { cluster, simulated } = await prepare('active-active');
    const [first] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, first ?? '');
    const whileReplacing = weightsWhenEntering(cluster, 'Launch the replacement node');

    const execution = await run({}, whileReplacing.onEvent);

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(whileReplacing.seen.weights).toBe('a=0, b=100, surge=0');
    expect(await weights(cluster)).toBe('a=50, b=50, surge=0');
    await expectReplaced(cluster, execution, first ?? '');
  });

  it('does nothing when the node answers again (a flapping node)', async () => {
    const { cluster } = await prepare('active-passive');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('No failover: the node answered');
    expect(execution.path).not.toContain('Take over the cluster lock');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
  });

  it('leaves the cluster to the failover already running when a second alarm fires', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    kill(simulated, cluster.model.nodes[0]?.instanceId ?? '');
    const first = await holdLock('failover', 'first-alarm');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('Another failover is already on it');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    expect((await readLock(lockStore(), 'test-cluster'))?.owner).toBe(first);
  });

  it('takes over the lock of a failover that is no longer running, and fails over', async () => {
    // The probe: a lock left by a dead failover made the next one end "Another failover is already on it".
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    const dead = await holdLock('failover', 'dead-alarm');
    await new SFNClient({}).send(new StopExecutionCommand({ executionArn: dead }));
    kill(simulated, active ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).not.toContain('Another failover is already on it');
    expect(execution.output).toMatchObject({ lock: { holder: { staleOwner: dead, staleStatus: 'ABORTED' } } });
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    await expectReplaced(cluster, execution, active ?? '');
  });

  it('replaces a lost passive node whose lock is held by a patch that no longer runs', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    const dead = await holdLock('patch-server', 'dead-patch');
    await new SFNClient({}).send(new StopExecutionCommand({ executionArn: dead }));
    kill(simulated, passive);

    const execution = await run({ slot: 'b' });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).not.toContain('No failover: the node is out of service for maintenance');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    await expectReplaced(cluster, execution, passive);
  });

  it('works the move out again under the lock, so a surge node launched after the first look is retired too', async () => {
    // The probe: the weights and leftovers were worked out in "Confirm the node loss", before the lock was held.
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, active ?? '');
    const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
    let lateSurge = '';

    const execution = await runLocally({
      stack: stack(),
      stateMachine: 'failover',
      input: {
        cluster: 'test-cluster',
        slot: 'a',
        alarmName: 'zerodown-test-cluster-node-a-lost',
        detectedAt: DETECTED_AT,
      },
      timeScale: 0.001,
      taskOverrides: {
        // The real assessment, after which a maintenance workflow launches a surge node before the lock changes hands.
        'Confirm the node loss': async () => {
          const assessment = await assessNodeLoss(clients, cluster.model, { slot: 'a' });
          lateSurge = (await launchSurgeNode(clients, cluster.model, `${PATCH_EXECUTION}:late`)).instanceId;
          return JSON.parse(JSON.stringify(assessment));
        },
      },
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(lateSurge).not.toBe('');
    expect(execution.output).toMatchObject({ underLock: { leftoverSurgeNodes: [lateSurge] } });
    expect(execution.path).toContain('Terminate a leftover surge node');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    await expectReplaced(cluster, execution, active ?? '');
  });

  it('stops a running patch, takes over, and leaves one consistent cluster', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    const patchName = 'patch-under-failover';
    let failover: Promise<LocalExecutionResult> | undefined;
    // The patch command is still running when the failover takes over.
    const { cancelled } = unfinishedCommands();

    const patchExecution = await runLocally({
      stack: stack(),
      stateMachine: 'patch-server',
      executionName: patchName,
      input: { cluster: 'test-cluster', patchId: 'P42' },
      timeScale: 0.001,
      onEvent: (event) => {
        if (!failover && event.type === 'StateEntered' && event.state.name === 'Check the patch of the passive node') {
          kill(simulated, active ?? '');
          failover = run({});
        }
      },
    });
    const execution = await (failover ?? Promise.reject(new Error('the failover never started')));

    expect(patchExecution.status).toBe('ABORTED');
    expect(execution.output).toMatchObject({
      lock: { preempted: { owner: expect.stringContaining(`:${patchName}`), workflow: 'patch-server', stopped: true } },
    });
    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    // The patch command it had sent was cancelled, once.
    expect(cancelled).toHaveLength(1);
    expect(execution.output).toMatchObject({ cancelled: { cancelled } });
    expect(execution.path).toContain('Terminate a leftover surge node');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    await expectReplaced(cluster, execution, active ?? '');
  });

  it('leaves a node that maintenance took out of service to the maintenance workflow', async () => {
    // A patch restarts the passive node it is patching; its heartbeats stop for the restart.
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1];
    kill(simulated, passive?.instanceId ?? '');
    const patch = await holdLock('patch-server', 'patching');

    const execution = await run({ slot: passive?.slot });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('No failover: the node is out of service for maintenance');
    expect(execution.path).not.toContain('Take over the cluster lock');
    expect((await readLock(lockStore(), 'test-cluster'))?.owner).toBe(patch);
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
  });

  it('replaces a lost passive node without moving any traffic', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    kill(simulated, passive);

    const execution = await run({ slot: 'b' });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Read the cluster lock');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    await expectReplaced(cluster, execution, passive);
  });

  it('fails without moving anything when no healthy node is left to take the traffic', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    for (const node of cluster.model.nodes) kill(simulated, node.instanceId);

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CapacityGuardError' });
    expect(execution.cause).toMatch(/^Move traffic to the survivors failed: /);
    expect(execution.path).not.toContain('Launch the replacement node');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });

  it('keeps the traffic on the survivor and removes a replacement that never gets ready', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    kill(simulated, cluster.model.nodes[0]?.instanceId ?? '');
    const permanent = new Set(cluster.model.nodes.map((node) => node.instanceId));

    const execution = await run({}, (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Launch the replacement node') return;
      for (const [instanceId, node] of simulated.nodes) if (!permanent.has(instanceId)) node.healthStatus = 503;
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'NodeNotReadyError' });
    expect(execution.path).toContain('Roll back: terminate the surge node');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });
});
