import type { ModifyListenerCommandInput } from '@aws-sdk/client-elastic-load-balancing-v2';
import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { readWeights, writeWeights } from '../../functions/aws/elbv2';
import { readLock } from '../../functions/domain/lock';
import type { UpdatePlan } from '../../functions/domain/plans/update-service';
import { isWeighted } from '../../functions/domain/weights';
import { failedCommand, recordCalls, rewriteOutput, unhealthyTarget } from '../../local/faults';
import type { LocalExecutionResult } from '../../local/local-sfn';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SentCommand } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { enableBaking, tagImageVersion } from '../harness/image-fixture';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

const OLD = 's3://apim-artifacts/orders-api/1.4.0/orders-api.car';
const HOTFIX = 's3://apim-artifacts/orders-api/1.4.1/orders-api.car';

/**
 * The nodes' deployment directories as the SSM documents would change them (moto runs no commands): deploy writes
 * the artifact on the node, file sync copies the manager's directory to every other node unless paused, and the
 * smoke test passes only where the hotfix is deployed. Sync lags by one smoke test, so the workflow's wait for sync
 * is exercised.
 */
class FileSyncSimulation {
  readonly artifacts = new Map<string, string>();
  paused = false;
  /** Smoke tests sent to a node without the hotfix; their invocations report Failed. */
  readonly failingSmokeTests = new Set<string>();
  private manager = '';

  reset(cluster: MotoCluster): void {
    this.artifacts.clear();
    this.failingSmokeTests.clear();
    this.paused = false;
    this.manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId ?? '';
    for (const node of cluster.model.nodes) this.artifacts.set(node.instanceId, OLD);
    for (const node of cluster.model.nodes) {
      failedCommand(
        node.instanceId,
        { output: 'orders-api: the hotfix is not deployed here' },
        { when: (input) => this.failingSmokeTests.has(`${input.CommandId}/${input.InstanceId}`) },
      );
    }
  }

  apply(command: SentCommand, instanceId: string): undefined {
    switch (command.documentName) {
      case 'zerodown-test-deploy':
        this.artifacts.set(instanceId, command.parameters.Artifact?.[0] ?? '');
        break;
      case 'zerodown-test-sync':
        this.paused = command.parameters.Action?.[0] === 'pause';
        break;
      case 'zerodown-test-smoke-test':
        if (this.artifacts.get(instanceId) !== HOTFIX) {
          this.failingSmokeTests.add(`${command.commandId}/${instanceId}`);
          if (!this.paused) this.artifacts.set(instanceId, this.artifacts.get(this.manager) ?? '');
        }
        break;
    }
    return undefined;
  }
}

describe('update-service', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const sync = new FileSyncSimulation();
  const fixture = workflowFixture({
    stateMachine: 'update-service',
    defaultInput: { artifact: HOTFIX, service: 'orders-api' },
    onCommand: (command, node) => sync.apply(command, node.instanceId),
  });
  const { prepare, run, weights, expectCleanCluster, failureOf } = fixture;

  /**
   * Prepares the cluster, and records each weight change the workflow makes, as `a=…, b=…, surge=…`. An active/passive
   * cluster's manager is its passive node (slot b), as the runbook wants; `managerServes` moves all traffic onto it
   * first, as a failover to slot b leaves a cluster, so the workflow has to take the manager out of service.
   */
  async function prepareUpdate(
    topology: 'active-passive' | 'active-active',
    options: { managerServes?: boolean } = {},
  ) {
    const prepared = await prepare(topology);
    const { model } = prepared.cluster;
    const managerNode = model.nodes.find((node) => node.role === 'manager');
    const workerNode = model.nodes.find((node) => node.role === 'worker');
    if (!managerNode || !workerNode) throw new Error('a manager and a worker expected');
    if (options.managerServes) {
      if (!isWeighted(model)) throw new Error('weighted cluster expected');
      const found = await readWeights(elbv2Client, model);
      await writeWeights(
        elbv2Client,
        model,
        found.map((entry) => ({ ...entry, weight: entry.slot === managerNode.slot ? 100 : 0 })),
      );
    }
    sync.reset(prepared.cluster);
    const shifts: string[] = [];
    rewriteOutput<object, ModifyListenerCommandInput>(elbv2Client, 'ModifyListenerCommand', (output, input) => {
      const forward = input.DefaultActions?.find((action) => action.Type === 'forward');
      const slots = isWeighted(prepared.cluster.model) ? prepared.cluster.model.traffic.slots : [];
      shifts.push(
        slots
          .map((slot) => {
            const group = forward?.ForwardConfig?.TargetGroups?.find((tg) => tg.TargetGroupArn === slot.targetGroupArn);
            return `${slot.name}=${group?.Weight ?? 0}`;
          })
          .join(', '),
      );
      return output;
    });
    const manager = managerNode.instanceId;
    const worker = workerNode.instanceId;
    const commandsOn = () =>
      prepared.simulated.commands
        .filter((command) => command.instanceIds.length === 1)
        .map((command) => `${command.documentName}${syncAction(command)} on ${nodeName(command, manager, worker)}`);
    return { ...prepared, shifts, manager, worker, commandsOn };
  }

  it('hotfixes an active/passive cluster whose manager is active: changed out of service, synced, rebalanced', async () => {
    const { cluster, shifts, manager, worker, commandsOn } = await prepareUpdate('active-passive', {
      managerServes: true,
    });
    expect(cluster.model.nodes.find((node) => node.role === 'manager')?.slot).toBe('b');
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(commandsOn()).toEqual([
      'zerodown-test-sync(pause) on manager',
      'zerodown-test-deploy on manager',
      'zerodown-test-smoke-test on manager',
      'zerodown-test-sync(resume) on manager',
      'zerodown-test-smoke-test on worker',
      'zerodown-test-smoke-test on worker',
    ]);
    // The worker serves alone while the manager changes, then the updated manager alone while the worker syncs.
    expect(shifts).toEqual(['a=100, b=0, surge=0', 'a=0, b=100, surge=0']);
    expect(sync.artifacts.get(manager)).toBe(HOTFIX);
    expect(sync.artifacts.get(worker)).toBe(HOTFIX);
    expect(execution.path).toContain('Take the manager node out of service');
    expect(execution.path).toContain('Verify the worker');
    expect(execution.path).not.toContain('Rebalance the traffic');
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('leaves a passive manager out of service until it is updated, then rebalances to the worker', async () => {
    const { cluster, shifts, commandsOn, manager } = await prepareUpdate('active-passive');
    // The runbook's layout: the manager is the passive node, the worker serves alone.
    expect(cluster.model.nodes.find((node) => node.role === 'manager')?.slot).toBe('b');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');

    // The lock's record as the deployment starts and once the manager is verified: a failover that a restart of the
    // manager would start in between leaves it to this workflow (see failover.test.ts).
    const recorded: Record<string, readonly string[] | undefined> = {};
    const recordWhenEntering = [
      'Check the deployment on the manager node',
      'Shift traffic to the updated manager node',
    ];
    const execution = await run({}, (event) => {
      if (event.type !== 'StateEntered' || !recordWhenEntering.includes(event.state.name)) return;
      if (event.state.name in recorded) return;
      recorded[event.state.name] = undefined;
      void readLock(fixture.lockStore(), cluster.model.name).then((lock) => {
        recorded[event.state.name] = lock?.recovery?.outOfService;
      });
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recorded).toEqual({
      'Check the deployment on the manager node': [manager],
      'Shift traffic to the updated manager node': [],
    });
    expect(execution.path).not.toContain('Take the manager node out of service');
    expect(commandsOn()[0]).toBe('zerodown-test-sync(pause) on manager');
    expect(shifts).toEqual(['a=0, b=100, surge=0', 'a=100, b=0, surge=0']);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('hotfixes an active/active cluster with the surge node carrying the share of the node that changes', async () => {
    const { cluster, shifts, manager, worker } = await prepareUpdate('active-active');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    // Two nodes serve at every step: worker + surge, then manager + surge, then the two permanent nodes.
    expect(shifts).toEqual(['a=0, b=50, surge=50', 'a=50, b=0, surge=50', 'a=50, b=50, surge=0']);
    expect(sync.artifacts.get(manager)).toBe(HOTFIX);
    expect(sync.artifacts.get(worker)).toBe(HOTFIX);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('rolls back a hotfix that fails its smoke test: the manager stays out of service and sync stays paused', async () => {
    const { cluster, simulated, shifts, manager, worker, commandsOn } = await prepareUpdate('active-passive', {
      managerServes: true,
    });
    const isSmokeTest = (commandId?: string) =>
      simulated.commands.some(
        (sent) => sent.commandId === commandId && sent.documentName === 'zerodown-test-smoke-test',
      );
    failedCommand(
      manager,
      { output: 'orders-api: HTTP 500 on /orders/health' },
      { when: (input) => isSmokeTest(input.CommandId) },
    );

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the smoke test of the manager node failed: .*HTTP 500/);
    expect(commandsOn()).toEqual([
      'zerodown-test-sync(pause) on manager',
      'zerodown-test-deploy on manager',
      'zerodown-test-smoke-test on manager',
    ]);
    // The untested artifact never reached the worker, which keeps serving; the failed manager is not put back.
    expect(sync.paused).toBe(true);
    expect(sync.artifacts.get(worker)).toBe(OLD);
    // The rollback says why sync stays paused, and how to resume it, before it restores the weights.
    const told = rollbackOutput(execution, 'Roll back: say why file sync stays paused');
    expect(told?.rollback?.syncLeftPaused).toMatchObject({
      reason: expect.stringContaining('never passed under traffic'),
      manager,
      resumeWith: { kind: 'syncResume', input: 'orders-api' },
    });
    expect(told?.rollback?.syncLeftPausedNotice).toBeDefined();
    expect(told?.rollback?.syncLeftPausedNoticeError).toBeUndefined();
    // Rollback finds the weights it restores already set, and writes nothing.
    expect(shifts).toEqual(['a=100, b=0, surge=0']);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('takes the updated manager out of service again when it fails under traffic, with the worker untouched', async () => {
    const { cluster, shifts, manager, worker, commandsOn } = await prepareUpdate('active-passive', {
      managerServes: true,
    });
    unhealthyTarget(manager, { when: () => shifts.includes('a=0, b=100, surge=0') });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'HealthCheckFailedError' });
    expect(execution.cause).toMatch(/^Verify the updated manager node under traffic failed: /);
    expect(commandsOn()).not.toContain('zerodown-test-sync(resume) on manager');
    expect(sync.artifacts.get(worker)).toBe(OLD);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('rolls back before anything changes when the surge node boots a stale image', async () => {
    const { cluster, commandsOn } = await prepareUpdate('active-passive');
    // The surge node boots the cluster's image, now tagged with an older version than the nodes report.
    await enableBaking(cluster);
    await tagImageVersion(cluster.model.region, cluster.imageId, '0.9.0');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
    expect(execution.cause).toMatch(/^Verify the surge node failed: /);
    expect(execution.cause).toContain('expected 1.0.0, reports 0.9.0');
    expect(commandsOn()).toEqual([]);
    expect(sync.paused).toBe(false);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('rolls back before the manager changes with the snapshot weights and file sync resumed', async () => {
    const { cluster, worker, commandsOn } = await prepareUpdate('active-passive', { managerServes: true });
    // The worker would carry the traffic alone, and it turns unhealthy once sync is paused: the capacity guard refuses.
    unhealthyTarget(worker, { when: () => sync.paused });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CapacityGuardError' });
    expect(commandsOn()).toEqual(['zerodown-test-sync(pause) on manager', 'zerodown-test-sync(resume) on manager']);
    expect(sync.paused).toBe(false);
    expect(sync.artifacts.get(worker)).toBe(OLD);
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('keeps traffic on the proven manager when file sync never reaches the worker', async () => {
    const { cluster, worker } = await prepareUpdate('active-passive');
    failedCommand(worker, { output: 'orders-api: not deployed' });

    const execution = await run({ syncTimeoutSeconds: 30 });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'FileSyncTimeoutError' });
    // The passive manager took the traffic to be proven; the rollback leaves it there, not on the worker it found.
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('returns the plan on a dry run and makes no mutating AWS call', async () => {
    const { cluster, manager } = await prepareUpdate('active-active');
    const calls: string[] = [];
    for (const client of [ec2Client, elbv2Client, ssmClient, dynamodbClient]) recordCalls(client, calls);

    const execution = await run({ dryRun: true });

    expect(execution.status).toBe('SUCCEEDED');
    const plan = execution.output as unknown as UpdatePlan;
    expect(plan.changed.instanceId).toBe(manager);
    expect(plan.steps.map((step) => step.step)).toEqual([
      'Launch surge node',
      'Wait until the surge node is ready',
      'Verify the surge node',
      'Pause file sync on the manager node',
      'Take the manager node out of service',
      'Deploy the hotfix on the manager node',
      'Smoke-test the manager node',
      'Verify the updated manager node',
      'Shift traffic to the updated manager node',
      'Resume file sync on the manager node',
      'Wait until file sync reaches the worker',
      'Rebalance the traffic',
      'Retire the surge node',
    ]);
    expect(plan.steps.every((step) => step.predictedServing >= plan.requiredServing)).toBe(true);
    expect(calls.filter((name) => !/^(Describe|Get|List)/.test(name))).toEqual([]);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('refuses a request without an artifact before touching anything', async () => {
    await prepareUpdate('active-passive');
    const execution = await run({ artifact: undefined });
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.cause).toContain('artifact is required');
    expect(execution.path).toEqual(['Validate the request']);
  });
});

type RollbackOutput = {
  rollback?: { syncLeftPaused?: unknown; syncLeftPausedNotice?: unknown; syncLeftPausedNoticeError?: unknown };
};

/** The output of the state `name` of an execution, when it ran. */
function rollbackOutput(execution: LocalExecutionResult, name: string): RollbackOutput | undefined {
  const exited = execution.events.find((event) => event.type === 'StateExited' && event.state.name === name);
  return exited && 'state' in exited ? (exited.state.output as RollbackOutput) : undefined;
}

function syncAction(command: SentCommand): string {
  const action = command.parameters.Action?.[0];
  return action ? `(${action})` : '';
}

function nodeName(command: SentCommand, manager: string, worker: string): string {
  const id = command.instanceIds[0];
  return id === manager ? 'manager' : id === worker ? 'worker' : (id ?? '');
}
