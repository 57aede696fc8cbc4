import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  type ModifyListenerCommandInput,
} from '@aws-sdk/client-elastic-load-balancing-v2';
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
import { shiftTraffic } from '../../functions/operations/shift-traffic';
import { recordInputs, unfinishedCommands, unhealthyTarget } from '../../local/faults';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
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
    // Traffic moves first; redundancy comes back after.
    expect(execution.path.indexOf('Move traffic to the survivors')).toBeGreaterThan(-1);
    expect(execution.path.indexOf('Move traffic to the survivors')).toBeLessThan(
      execution.path.indexOf('Adopt the replacement into the slot'),
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

  it('behind two listeners, moves both and registers the replacement in both of its slot target groups', async () => {
    const { cluster, simulated } = await prepare('active-active', { managementListener: true });
    const management = cluster.management;
    if (!management) throw new Error('a management listener expected');
    const [first] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, first ?? '');
    const writes: ModifyListenerCommandInput[] = [];
    recordInputs(elbv2Client, 'ModifyListenerCommand', writes);

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const replacement = await expectReplaced(cluster, execution, first ?? '');
    // The first write of each listener took the lost node's share away: the management port moved with the gateway.
    const firstWeightOfA = (listenerArn: string, groupOfA: string | undefined) =>
      writes
        .find((write) => write.ListenerArn === listenerArn)
        ?.DefaultActions?.[0]?.ForwardConfig?.TargetGroups?.find((target) => target.TargetGroupArn === groupOfA)
        ?.Weight;
    expect(firstWeightOfA(cluster.model.traffic.listenerArn, cluster.targetGroups.a)).toBe(0);
    expect(firstWeightOfA(management.listenerArn, management.targetGroups.a)).toBe(0);
    for (const group of [cluster.targetGroups.a, management.targetGroups.a]) {
      const health = await elbv2Client.send(new DescribeTargetHealthCommand({ TargetGroupArn: group }));
      const registered = (health.TargetHealthDescriptions ?? [])
        .filter((description) => description.TargetHealth?.State !== 'draining')
        .map((description) => description.Target?.Id);
      expect(registered).toEqual([replacement]);
    }
    expect(await weights(cluster)).toBe('a=50, b=50, surge=0');
    expect(writes.at(-1)?.ListenerArn).toBe(management.listenerArn);
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

  it('works the move out again under the lock, so an unhealthy surge node launched after the first look is retired too', async () => {
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
          // Not ready: no standby, so it is a leftover and a replacement is launched.
          unhealthyTarget(lateSurge);
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

  it("stops a running patch, moves the traffic to the patch's surge node and adopts it into the lost slot", async () => {
    // The probe: the failover moved the traffic onto the node whose patch it interrupted, and terminated the healthy
    // surge node, the very node the runbook launches in case the active node goes down during the change.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    const patchName = 'patch-under-failover';
    let failover: Promise<LocalExecutionResult> | undefined;
    // The patch command is still running when the failover takes over.
    const { cancelled } = unfinishedCommands();
    const whileAdopting = weightsWhenEntering(cluster, 'Adopt the replacement into the slot');

    const patchExecution = await runLocally({
      stack: stack(),
      stateMachine: 'patch-server',
      executionName: patchName,
      input: { cluster: 'test-cluster', patchId: 'P42' },
      timeScale: 0.001,
      onEvent: (event) => {
        if (!failover && event.type === 'StateEntered' && event.state.name === 'Check the patch of the passive node') {
          kill(simulated, active ?? '');
          failover = run({}, whileAdopting.onEvent);
        }
      },
    });
    const execution = await (failover ?? Promise.reject(new Error('the failover never started')));

    expect(patchExecution.status).toBe('ABORTED');
    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.output).toMatchObject({
      lock: { preempted: { owner: expect.stringContaining(`:${patchName}`), stopped: true }, outOfService: [passive] },
      underLock: { survivors: [], outOfService: [{ slot: 'b', instanceId: passive }], adopt: true },
    });
    const standby = (execution.output as { underLock: { standby: string } }).underLock.standby;
    // The surge node took the traffic; the node under its patch never got any.
    expect(whileAdopting.seen.weights).toBe('a=0, b=0, surge=100');
    expect(execution.path).toContain('Take the standby surge node as the replacement');
    expect(execution.path).not.toContain('Launch the replacement node');
    expect(execution.path).not.toContain('Terminate a leftover surge node');
    expect(cancelled).toHaveLength(1);
    // The standby holds the lost slot as its permanent node: redundancy is back without a launch.
    expect(await expectReplaced(cluster, execution, active ?? '')).toBe(standby);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([standby, passive]);

    // The stopped patch's recovery, as its status rule starts it, treats the adopted node as permanent.
    const recovery = await runLocally({
      stack: stack(),
      stateMachine: 'recover',
      input: { cluster: 'test-cluster', execution: patchExecution.executionArn, status: 'ABORTED' },
      timeScale: 0.001,
    });
    expect(failureOf(recovery)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recovery.path).not.toContain('Terminate a leftover surge node');
    expect((await tagsOf(standby))[ROLE_TAG_KEY]).toBe(cluster.model.nodes[0]?.role);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('shares the lost node out among the serving surge node and never the node a rotation drained', async () => {
    // Active/active patch mid-rotation: the surge node serves, node a is drained and being patched, b is lost.
    const { cluster, simulated } = await prepare('active-active');
    const [drained, lost] = cluster.model.nodes.map((node) => node.instanceId);
    const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
    const patch = await holdLock('patch-server', 'rotating', { outOfService: [drained ?? ''] });
    const surge = (await launchSurgeNode(clients, cluster.model, patch)).instanceId;
    await shiftTraffic(elbv2Client, cluster.model, { weights: { a: 0, b: 50, surge: 50 } });
    kill(simulated, lost ?? '');
    const beforeReturn = weightsWhenEntering(cluster, 'Verify the node left out of service');

    const execution = await run({ slot: 'b' }, beforeReturn.onEvent);

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.output).toMatchObject({
      underLock: { weights: { a: 0, b: 0, surge: 100 }, standby: surge, adopt: true },
    });
    // The drained node got nothing until the failover itself had verified it again (its patch was cancelled).
    expect(execution.path.indexOf('Verify the node left out of service')).toBeLessThan(
      execution.path.indexOf('Give the verified node its traffic back'),
    );
    expect(beforeReturn.seen.weights).toBe('a=0, b=100, surge=0');
    expect(await weights(cluster)).toBe('a=50, b=50, surge=0');
    expect(await expectReplaced(cluster, execution, lost ?? '')).toBe(surge);
  });

  it('leaves a node to the maintenance workflow only when its record names that node as out of service', async () => {
    // A patch restarts the passive node it is patching; its heartbeats stop for the restart.
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1];
    kill(simulated, passive?.instanceId ?? '');
    const patch = await holdLock('patch-server', 'patching', { outOfService: [passive?.instanceId ?? ''] });

    const execution = await run({ slot: passive?.slot });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('No failover: the node is out of service for maintenance');
    expect(execution.path).not.toContain('Take over the cluster lock');
    expect((await readLock(lockStore(), 'test-cluster'))?.owner).toBe(patch);
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
  });

  it('replaces a dead idle node while a deploy-service runs that never took it out of service', async () => {
    // The probe: with a deploy-service lock held, a dead passive node gave "No failover: the node is out of service
    // for maintenance", and no replacement was launched.
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    const deploy = await holdLock('deploy-service', 'deploying', { outOfService: [] });
    kill(simulated, passive);

    const execution = await run({ slot: 'b' });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).not.toContain('No failover: the node is out of service for maintenance');
    expect(execution.output).toMatchObject({ lock: { preempted: { owner: deploy, workflow: 'deploy-service' } } });
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    await expectReplaced(cluster, execution, passive);
  });

  it('fails with a named error, before anything, when the input names no slot', async () => {
    // The probe: a failover input without `slot` failed with States.Runtime.
    const { cluster } = await prepare('active-passive');

    const execution = await runLocally({
      stack: stack(),
      stateMachine: 'failover',
      input: { cluster: 'test-cluster', alarmName: 'zerodown-test-cluster-node-a-lost' },
      timeScale: 0.001,
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.path).toEqual([
      'Is the input an alarm of a slot?',
      'Fail because the input is not an alarm of a slot',
    ]);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('reports a failure to confirm the loss before it fails, having moved nothing', async () => {
    // The probe: "Confirm the node loss" and "Take over the cluster lock" published nothing when they failed.
    const { cluster } = await prepare('active-passive');
    const published = await topicEvents(1);

    const execution = await run({ slot: 'nope' });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.path).toContain('Report that the failover could not act');
    expect(await published()).toEqual([
      expect.objectContaining({ workflow: 'failover', outcome: 'failed', step: 'Confirm the node loss' }),
    ]);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('on a re-check, ends quietly when the node answers, and reminds the operator when it is time', async () => {
    const { cluster } = await prepare('active-passive');
    const published = await topicEvents(1);
    const recheck = { trigger: 'recheck', detectedAt: DETECTED_AT };

    const quiet = await run({ ...recheck, remind: false });
    const reminded = await run({ ...recheck, remind: true });

    expect(quiet.path.at(-1)).toBe('No failover: the node answered the re-check');
    expect(quiet.path).not.toContain('Report a node that answers but sends no heartbeat');
    expect(reminded.path).toContain('Report a node that answers but sends no heartbeat');
    expect(await published()).toEqual([expect.objectContaining({ workflow: 'failover', outcome: 'attention' })]);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('started by a peer that cannot reach a node that answers, moves nothing and tells the operator of the partition', async () => {
    const { cluster } = await prepare('active-passive');
    const published = await topicEvents(1);
    const [reported] = cluster.model.nodes.map((node) => node.instanceId);

    const execution = await run({ trigger: 'peer', lostInstanceId: reported, detectedAt: DETECTED_AT });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.slice(-2)).toEqual([
      'Report a node that its peer could not reach',
      'No failover: the node answered',
    ]);
    expect(execution.path).not.toContain('Take over the cluster lock');
    expect(await published()).toEqual([
      expect.objectContaining({
        workflow: 'failover',
        outcome: 'attention',
        detail: expect.objectContaining({ slot: 'a', instanceId: reported }),
      }),
    ]);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('started by a peer that saw the node die, fails over as from the alarm', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    kill(simulated, active ?? '');

    const execution = await run({ trigger: 'peer', lostInstanceId: active, detectedAt: DETECTED_AT });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path.at(-1)).toBe('Failover complete');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    await expectReplaced(cluster, execution, active ?? '');
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
    simulated.launchedHealthStatus = 503;

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'NodeNotReadyError' });
    expect(execution.path).toContain('Roll back: terminate the surge node');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });
});
