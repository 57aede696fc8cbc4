import { PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import {
  DescribeTargetHealthCommand,
  type ModifyListenerCommandInput,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { cloudwatchClient } from '../../functions/aws/clients/cloudwatch';
import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { readLock } from '../../functions/domain/lock';
import type { RolloutPlan as PatchPlan } from '../../functions/domain/plans/rollout';
import { parseVersionRecord, versionRecordParameterName } from '../../functions/domain/version-record';
import { describeWeights, isWeighted, type SlotWeight } from '../../functions/domain/weights';
import { failedCommand, injectError, recordCalls, recordInputs, unhealthyTarget } from '../../local/faults';
import type { LocalExecutionResult } from '../../local/local-sfn';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { enableBaking, tagImageVersion } from '../harness/image-fixture';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
import { workflowFixture } from '../harness/workflow-fixture';

const PATCHED = '1.0.0-P42';

describe('patch-server', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  // The patch document restarts the server on the patched version.
  const fixture = workflowFixture({
    stateMachine: 'patch-server',
    defaultInput: { patchId: 'P42' },
    onCommand: (command, node) => {
      if (command.documentName === 'zerodown-test-patch') node.version = PATCHED;
      return undefined;
    },
  });
  const { lockStore, holdLock, prepare, run, expectCleanCluster, failureOf } = fixture;

  it('patches an active/passive cluster: every node on the new version, traffic back, surge gone, lock free', async () => {
    const { cluster, simulated } = await prepare('active-passive');

    const execution = await run({ version: PATCHED });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe(PATCHED);
    expect(simulated.commands.map((command) => command.instanceIds)).toEqual(
      cluster.model.nodes.map((node) => [node.instanceId]).reverse(),
    );
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
    expect(execution.path).toContain('Shift traffic to the patched node');
    expect(execution.stateTransitions).toBeLessThan(200);
  });

  it('keeps the surge node running on request, out of the surge target group the next rollout gives a share', async () => {
    const { cluster } = await prepare('active-passive');

    const execution = await run({ version: PATCHED, keepSurge: true });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Keep the surge node for debugging');
    const [kept] = await findSurgeNodes(ec2Client, cluster.model);
    expect(kept?.state).toBe('running');
    const { traffic } = cluster.model;
    if (!isWeighted(cluster.model) || traffic.strategy !== 'weighted-target-groups')
      throw new Error('weighted expected');
    const surgeGroup = traffic.slots.find((slot) => slot.name === traffic.surgeSlot);
    const { TargetHealthDescriptions = [] } = await elbv2Client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: surgeGroup?.targetGroupArn }),
    );
    expect(TargetHealthDescriptions.map((target) => target.Target?.Id)).not.toContain(kept?.instanceId);
    expect(await fixture.weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('records the version the nodes run once the patch succeeded, for the DR check', async () => {
    const { cluster } = await prepare('active-passive');

    const execution = await run({ version: PATCHED });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).not.toContain('Say that the version was not recorded');
    const name = versionRecordParameterName(cluster.model.name);
    const { Parameter } = await ssmClient.send(new GetParameterCommand({ Name: name }));
    expect(parseVersionRecord(Parameter?.Value ?? '', name)).toMatchObject({
      version: PATCHED,
      execution: execution.executionArn,
    });
  });

  it('tells the operator when the version record cannot be written, and rolls nothing back', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const published = await topicEvents();
    // Parameter Store refuses the write (moto never does; the error is injected after the SDK's retries).
    injectError<{ Name?: string }>(
      ssmClient,
      'PutParameterCommand',
      () => Object.assign(new Error('Rate exceeded'), { name: 'TooManyUpdates' }),
      { sdkRetriesExhausted: true, when: (input) => input.Name?.endsWith('/version') ?? false },
    );

    const execution = await run({ version: PATCHED });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Say that the version was not recorded');
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe(PATCHED);
    expect((await published()).find((event) => event.outcome === 'attention')).toMatchObject({
      step: 'Version not recorded',
      detail: {
        reason: expect.stringContaining('version record was not written'),
        step: "Record the cluster's version",
      },
    });
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('keeps traffic on the patched node when asked not to shift back', async () => {
    const { cluster } = await prepare('active-passive');
    const execution = await run({ shiftBack: false });
    expect(execution.status).toBe('SUCCEEDED');
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('patches an active/active cluster one node at a time behind the surge node', async () => {
    const { cluster, simulated } = await prepare('active-active');
    const servingSeen: string[] = [];

    const execution = await run({ version: PATCHED }, (event) => {
      if (event.type === 'StateEntered' && event.state.name === 'Patch the node in turn') servingSeen.push('patch');
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(servingSeen).toHaveLength(2);
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe(PATCHED);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('moves the management listener with the gateway listener at every step of the patch', async () => {
    const { cluster, simulated } = await prepare('active-active', { managementListener: true });
    const management = cluster.management;
    if (!management) throw new Error('a management listener expected');
    const writes: ModifyListenerCommandInput[] = [];
    recordInputs(elbv2Client, 'ModifyListenerCommand', writes);

    const execution = await run({ version: PATCHED });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe(PATCHED);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
    // Each shift writes both listeners, the same weights by slot, before the workflow goes on.
    const bySlot = (groups: Record<string, string>, write: ModifyListenerCommandInput) =>
      Object.entries(groups)
        .map(([slot, arn]) => {
          const targets = write.DefaultActions?.[0]?.ForwardConfig?.TargetGroups ?? [];
          return `${slot}=${targets.find((target) => target.TargetGroupArn === arn)?.Weight}`;
        })
        .join(', ');
    const gateway = writes.filter((write) => write.ListenerArn === cluster.model.traffic.listenerArn);
    const managed = writes.filter((write) => write.ListenerArn === management.listenerArn);
    expect(gateway.length).toBeGreaterThanOrEqual(4);
    expect(managed.map((write) => bySlot(management.targetGroups, write))).toEqual(
      gateway.map((write) => bySlot(cluster.targetGroups, write)),
    );
    expect(writes.map((write) => write.ListenerArn)).toEqual(
      gateway.flatMap(() => [cluster.model.traffic.listenerArn, management.listenerArn]),
    );
    expect(gateway.map((write) => bySlot(cluster.targetGroups, write))).toContain('a=0, b=50, surge=50');
  });

  it('rolls back when the patch fails on the first node, and never touches the other one', async () => {
    // moto runs no commands; the failure is injected.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    failedCommand(passive ?? '', { output: 'yum: patch P42 conflicts with kernel-5.10', responseCode: 1 });

    const execution = await run({});

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('CommandFailedError');
    expect(execution.cause).toMatch(/^Check the patch of the passive node failed: /);
    expect(execution.cause).toContain('conflicts with kernel-5.10');
    expect(execution.path).toContain('Roll back: restore the snapshot weights');
    expect(simulated.commands.flatMap((command) => command.instanceIds)).not.toContain(active);
    expect(simulated.nodes.get(active ?? '')?.version).toBe('1.0.0');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('rolls back with VersionMismatchError when the patched node reports another version than the request named', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);

    const execution = await run({ version: '4.2.1' });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
    expect(execution.cause).toMatch(/^Verify the passive node failed: /);
    expect(execution.cause).toContain(`Node ${passive} failed`);
    expect(execution.cause).toContain(`reported version`);
    expect(execution.cause).toContain(`expected 4.2.1, reports ${PATCHED}`);
    // Found before the patched node took any traffic, so the active node was never touched.
    expect(execution.path).not.toContain('Shift traffic to the patched node');
    expect(simulated.commands.flatMap((command) => command.instanceIds)).not.toContain(active);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it.each(['active-passive', 'active-active'] as const)(
    'rolls back before the surge node stands by or serves when it boots a stale image (%s)',
    async (topology) => {
      const { cluster, simulated } = await prepare(topology);
      // The surge node boots the cluster's image, now tagged with an older version than the nodes report.
      await enableBaking(cluster);
      await enableBaking(cluster);
      await tagImageVersion(cluster.model.region, cluster.imageId, '0.9.0');

      const execution = await run({ version: PATCHED });

      expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
      expect(execution.cause).toMatch(/^Verify the surge node failed: /);
      expect(execution.cause).toContain('expected 1.0.0, reports 0.9.0');
      expect(execution.path).not.toContain('Put the surge node into service');
      expect(simulated.commands).toEqual([]);
      await expectCleanCluster(cluster, topology === 'active-passive' ? 'a=100, b=0, surge=0' : 'a=50, b=50, surge=0');
    },
  );

  it('brings a surge node one change behind the nodes level with them, as a rerun after an interrupted patch needs', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    await enableBaking(cluster);
    // Every node already runs the patch (an earlier run changed both and stopped before the bake); the image does not.
    for (const node of cluster.model.nodes) {
      const served = simulated.nodes.get(node.instanceId);
      if (served) served.version = PATCHED;
    }

    const execution = await run({ version: PATCHED });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Patch the lagging surge node');
    expect(execution.path).toContain('Verify the caught-up surge node');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('gives a surge node of another version the patch when the request names none, and rolls back if it still differs', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    await enableBaking(cluster);
    await tagImageVersion(cluster.model.region, cluster.imageId, '0.9.0');

    const execution = await run({});

    // Without a named version the patch might be what the surge node lacks; here it is not: 0.9.0 patched is no 1.0.0.
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
    expect(execution.path).toContain('Patch the lagging surge node');
    expect(execution.cause).toMatch(/^Verify the caught-up surge node failed: /);
    expect(execution.cause).toContain(`expected 1.0.0, reports ${PATCHED}`);
    const permanent = new Set(cluster.model.nodes.map((node) => node.instanceId));
    expect(simulated.commands.flatMap((command) => command.instanceIds).filter((id) => permanent.has(id))).toEqual([]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('compares nothing when the surge node boots a fixed image id, which stays on the version it was built with', async () => {
    const { cluster } = await prepare('active-passive');
    await tagImageVersion(cluster.model.region, cluster.imageId, '0.9.0');

    const plan = (await run({ version: PATCHED, dryRun: true })).output as unknown as PatchPlan;
    const execution = await run({ version: PATCHED });

    expect(plan).toMatchObject({ currentVersion: '1.0.0', surgeVersion: null, surgeCatchUp: false });
    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('refuses a version it has no way to check, before touching anything', async () => {
    const { cluster } = await prepare('active-passive', {
      customize: (model) => ({ ...model, healthChecks: { http: model.healthChecks.http } }),
    });

    const execution = await run({ version: '4.2.1' });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.cause).toContain('healthChecks.version');
    expect(execution.path).not.toContain('Acquire the cluster lock');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('restores the snapshot weights when the patched node fails its checks after the shift', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);

    const execution = await run({}, (event) => {
      if (event.type === 'StateExited' && event.state.name === 'Shift traffic to the patched node') {
        const node = simulated.nodes.get(passive ?? '');
        if (node) node.healthStatus = 503;
      }
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'HealthCheckFailedError' });
    expect(execution.cause).toMatch(
      /^Verify the patched node under traffic failed: .*"server health": expected HTTP 200, got 503/,
    );
    expect(simulated.commands.flatMap((command) => command.instanceIds)).not.toContain(active);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('leaves traffic on the patched node when the original active node comes back broken', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes.map((node) => node.instanceId);
    let broken = false;
    // The load balancer sees the broken node too (moto never reports an unhealthy target).
    unhealthyTarget(active ?? '', { when: () => broken });

    const execution = await run({}, (event) => {
      if (event.type === 'StateExited' && event.state.name === 'Verify the patched node under traffic') {
        broken = true;
        const node = simulated.nodes.get(active ?? '');
        if (node) node.healthStatus = 500;
      }
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'NodeNotReadyError' });
    // Restoring the snapshot would send traffic to the broken node: the guard refuses, the patched node keeps it.
    const refused = execution.events.find(
      (event) => event.type === 'StateCaught' && event.state.name === 'Roll back: restore the snapshot weights',
    );
    expect(refused).toBeDefined();
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('rolls back when the capacity guard refuses because the remaining node is unhealthy', async () => {
    const { cluster } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    let passivePatched = false;
    // moto reports every target healthy; the passive node's target turns unhealthy once it is patched.
    unhealthyTarget(passive, { when: () => passivePatched });

    const execution = await run({}, (event) => {
      if (event.type === 'StateExited' && event.state.name === 'Verify the passive node') passivePatched = true;
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CapacityGuardError' });
    expect(execution.cause).toMatch(/^Shift traffic to the patched node failed: /);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  describe('gradual shifting', () => {
    const SHIFT = 'Shift traffic to the patched node';

    async function createAlarm(name: string) {
      await cloudwatchClient.send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          Namespace: 'APIM',
          MetricName: 'Http5xx',
          Statistic: 'Sum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        }),
      );
    }

    function stagesOf(execution: LocalExecutionResult): string[] {
      return execution.events
        .filter((event) => event.type === 'StateExited' && event.state.name === SHIFT)
        .map((event) => {
          const output = ('state' in event ? event.state.output : undefined) as { shift?: { weights: SlotWeight[] } };
          return describeWeights(output.shift?.weights ?? []);
        });
    }

    it('moves traffic in stages, baking and checking the alarms after each', async () => {
      const { cluster } = await prepare('active-passive');
      await createAlarm('apim-5xx');

      const execution = await run({ shift: { steps: [10, 50, 100], bakeSeconds: 30, alarms: ['apim-5xx'] } });

      expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
      expect(stagesOf(execution)).toEqual(['a=90, b=10, surge=0', 'a=50, b=50, surge=0', 'a=0, b=100, surge=0']);
      await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
    });

    it('rolls back when an alarm is in ALARM after a bake', async () => {
      const { cluster } = await prepare('active-passive');
      await createAlarm('apim-5xx');
      await cloudwatchClient.send(
        new SetAlarmStateCommand({ AlarmName: 'apim-5xx', StateValue: 'ALARM', StateReason: '5xx rate above 1%' }),
      );

      const execution = await run({ shift: { steps: [10, 50, 100], bakeSeconds: 30, alarms: ['apim-5xx'] } });

      expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'AlarmTriggeredError' });
      expect(execution.cause).toMatch(
        /^Check the alarms: Shift traffic to the patched node failed: .*"apim-5xx" \(5xx rate above 1%\)/,
      );
      expect(stagesOf(execution)).toEqual(['a=90, b=10, surge=0']);
      await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
    });

    it('refuses steps that do not end at 100 before touching anything', async () => {
      await prepare('active-passive');
      const execution = await run({ shift: { steps: [10, 50] } });
      expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
      expect(execution.cause).toContain('shift.steps must end at 100');
    });
  });

  it('refuses a plan whose worst case runs past the execution timeout, before the lock', async () => {
    // The probe: 10 stages of 3600 s bakes were planned against a 14,400 s execution timeout.
    await prepare('active-passive');
    const shift = { steps: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], bakeSeconds: 3600 };

    const dryRun = await run({ dryRun: true, shift });
    const execution = await run({ shift });

    for (const refused of [dryRun, execution]) {
      expect(failureOf(refused)).toMatchObject({ status: 'FAILED', error: 'PlanTooLongError' });
      expect(refused.cause).toContain('bakes 72000 s');
      expect(refused.path).not.toContain('Acquire the cluster lock');
    }
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });

  it('answers a dry run with the plan and its worst case against the execution timeout', async () => {
    await prepare('active-passive');

    const execution = await run({ dryRun: true });

    expect(execution.output).toMatchObject({
      duration: { executionTimeoutSeconds: 21_600, worstCase: { commands: expect.any(Number) } },
    });
  });

  it('refuses a second start on a locked cluster and leaves the running execution alone', async () => {
    await prepare('active-passive');
    const holder = await holdLock('patch-server', 'first');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'ClusterLockedError' });
    expect(execution.path).not.toContain('Snapshot the cluster');
    expect((await readLock(lockStore(), 'test-cluster'))?.owner).toBe(holder);
  });

  it('returns the plan on a dry run and makes no mutating AWS call', async () => {
    const { cluster } = await prepare('active-passive');
    const calls: string[] = [];
    for (const client of [ec2Client, elbv2Client, ssmClient, dynamodbClient]) recordCalls(client, calls);

    const execution = await run({ dryRun: true, version: PATCHED });

    expect(execution.status).toBe('SUCCEEDED');
    const plan = execution.output as unknown as PatchPlan;
    expect(plan.steps.map((step) => step.step)).toEqual([
      'Launch surge node',
      'Wait until the surge node is ready',
      'Verify the surge node',
      'Patch the passive node',
      'Wait until the passive node is ready',
      'Verify the passive node',
      'Shift traffic to the patched node',
      'Verify the patched node under traffic',
      'Patch the other node',
      'Wait until the other node is ready',
      'Verify the other node',
      'Shift traffic back',
      'Retire the surge node',
      "Record the cluster's version",
    ]);
    expect(plan.first?.instanceId).toBe(cluster.model.nodes[1]?.instanceId);
    expect(plan.steps.every((step) => step.predictedServing >= plan.requiredServing)).toBe(true);
    const mutating = calls.filter((name) => !/^(Describe|Get|List)/.test(name));
    expect(calls.length).toBeGreaterThan(0);
    expect(mutating).toEqual([]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('refuses a malformed patch id before touching anything', async () => {
    await prepare('active-passive');
    const execution = await run({ patchId: 'P42; reboot' });
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.path).toEqual(['Validate the request']);
  });
});
