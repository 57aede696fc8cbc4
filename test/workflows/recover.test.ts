import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { sfnClient } from '../../functions/aws/clients/sfn';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { readWeights, writeWeights } from '../../functions/aws/elbv2';
import { stepFunctionsExecutions } from '../../functions/aws/sfn';
import { acquireLock, readLock } from '../../functions/domain/lock';
import { isWeighted } from '../../functions/domain/weights';
import { unfinishedCommands, unhealthyTarget } from '../../local/faults';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import { startMotoExecution } from '../../local/moto-resources';
import { RECOVERED_STEP } from '../../statemachines/fragments/recovery';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

const PATCHED = '1.0.0-P42';

/**
 * An execution that ends without its Catch (stopped, timed out, crashed) leaves the cluster where it was. These tests
 * stop real executions of the synthesized state machines at a named state, as StopExecution does, and check what
 * `recover` (and the next workflow, which takes the dead lock over) makes of it.
 */
describe('recover', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const syncCommands: { action: string; instanceId: string }[] = [];
  const { stack, lockStore, prepare, run, weights, expectCleanCluster, failureOf } = workflowFixture({
    stateMachine: 'patch-server',
    defaultInput: { patchId: 'P42' },
    onCommand: (command, node) => {
      if (command.documentName === 'zerodown-test-patch') node.version = PATCHED;
      if (command.documentName === 'zerodown-test-upgrade') node.version = command.parameters.TargetVersion?.[0] ?? '';
      if (command.documentName === 'zerodown-test-sync') {
        syncCommands.push({ action: command.parameters.Action?.[0] ?? '', instanceId: node.instanceId });
      }
      return undefined;
    },
  });
  beforeEach(() => {
    syncCommands.length = 0;
  });

  /**
   * Runs `workflow` and stops it inside the Task `state`, as an operator's StopExecution would: the task never
   * finishes, so the stop lands exactly there however busy the machine is.
   */
  async function abortAt(workflow: string, state: string, input: Record<string, unknown> = {}) {
    const execution = await runLocally({
      stack: stack(),
      stateMachine: workflow,
      input: { cluster: 'test-cluster', ...input },
      timeScale: 0.001,
      stopInside: state,
    });
    expect(execution.status).toBe('ABORTED');
    return execution;
  }

  function recover(input: Record<string, unknown>): Promise<LocalExecutionResult> {
    return runLocally({
      stack: stack(),
      stateMachine: 'recover',
      input: { cluster: 'test-cluster', ...input },
      timeScale: 0.001,
    });
  }

  const recovered = (execution: LocalExecutionResult) => {
    const report = execution.events.find(
      (event) => event.type === 'StateExited' && event.state.name === 'Recover: report what was done',
    );
    return report && 'state' in report ? (report.state.output as { recovering: Record<string, unknown> }) : undefined;
  };

  it('puts back an active/active patch stopped mid-rotation: safe weights, surge node gone, lock free', async () => {
    const { cluster } = await prepare('active-active');
    const aborted = await abortAt('patch-server', 'Check the patch of the node in turn', {
      patchId: 'P42',
      version: PATCHED,
    });
    // What the probe found: one node out, the surge node serving, the lock held by a dead execution.
    expect(await weights(cluster)).toBe('a=0, b=50, surge=50');
    expect((await readLock(lockStore(), 'test-cluster'))?.recovery).toMatchObject({
      execution: aborted.executionArn,
      weights: { a: 50, b: 50, surge: 0 },
    });

    const recovery = await recover({ execution: aborted.executionArn, status: 'ABORTED' });

    expect(failureOf(recovery)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recovery.path).toEqual(
      expect.arrayContaining([
        'Recover: restore the last safe weights',
        'Deregister a leftover surge node',
        'Terminate a leftover surge node',
        'Recover: report what was done',
      ]),
    );
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('leaves running the surge node of an aborted active/active upgrade whose migration outlasts the wait', async () => {
    // The migration runs last, on the surge node; the operator stops the upgrade while it runs, and it runs on past
    // the recovery's wait for commands. Terminating the node would stop it half-way.
    const { cluster } = await prepare('active-active');
    const aborted = await abortAt('upgrade-version', 'Check the migrations', { version: '2.0.0' });
    const [surge] = await findSurgeNodes(ec2Client, cluster.model);
    expect(surge).toBeDefined();
    // moto ends every command at once: here every listed command is still running, and a cancel is answered.
    unfinishedCommands();

    const recovery = await recover({ execution: aborted.executionArn, status: 'ABORTED' });

    expect(failureOf(recovery)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recovery.path).not.toContain('Terminate a leftover surge node');
    expect((await findSurgeNodes(ec2Client, cluster.model)).map((node) => node.instanceId)).toEqual([
      surge?.instanceId,
    ]);
    expect(recovered(recovery)?.recovering).toMatchObject({
      surge: { instanceIds: [], leftRunning: [surge?.instanceId] },
    });
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });

  it('is idempotent: a second recovery of the same execution finds nothing left and changes nothing', async () => {
    const { cluster } = await prepare('active-active');
    const aborted = await abortAt('patch-server', 'Check the patch of the node in turn', {
      patchId: 'P42',
    });
    expect((await recover({ execution: aborted.executionArn, status: 'ABORTED' })).status).toBe('SUCCEEDED');

    const again = await recover({ execution: aborted.executionArn, status: 'ABORTED' });

    expect(again.status).toBe('SUCCEEDED');
    expect(again.path).not.toContain('Recover: restore the last safe weights');
    expect(again.path).not.toContain('Deregister a leftover surge node');
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('lets the next patch take the dead lock over and recover first, then patch', async () => {
    const { cluster, simulated } = await prepare('active-active');
    await abortAt('patch-server', 'Check the patch of the node in turn', { patchId: 'P42' });

    const next = await run({ version: PATCHED });

    expect(failureOf(next)).toMatchObject({ status: 'SUCCEEDED' });
    const recoveredAt = next.path.indexOf('Recover: restore the last safe weights');
    expect(recoveredAt).toBeGreaterThan(next.path.indexOf('Acquire the cluster lock'));
    expect(recoveredAt).toBeLessThan(next.path.indexOf('Snapshot the cluster'));
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe(PATCHED);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('resumes file sync that an update-service paused before the manager changed', async () => {
    const { cluster } = await prepare('active-passive');
    const manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId;
    const aborted = await abortAt('update-service', 'Check the pause of file sync', {
      service: 'orders-api',
      artifact: 's3://apim-artifacts/orders-api/1.4.1/orders-api.car',
    });
    expect(syncCommands).toEqual([{ action: 'pause', instanceId: manager }]);

    const recovery = await recover({ execution: aborted.executionArn, status: 'ABORTED' });

    expect(recovery.status).toBe('SUCCEEDED');
    expect(syncCommands).toEqual([
      { action: 'pause', instanceId: manager },
      { action: 'resume', instanceId: manager },
    ]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('leaves file sync paused, and says why, once the manager holds a change that was never verified', async () => {
    const { cluster } = await prepare('active-passive');
    // The manager (the passive node, slot b) serves alone, as after a failover to it: the update takes it out of
    // service before it changes.
    if (!isWeighted(cluster.model)) throw new Error('weighted cluster expected');
    const managerSlot = cluster.model.nodes.find((node) => node.role === 'manager')?.slot;
    const found = await readWeights(elbv2Client, cluster.model);
    await writeWeights(
      elbv2Client,
      cluster.model,
      found.map((entry) => ({ ...entry, weight: entry.slot === managerSlot ? 100 : 0 })),
    );
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    const aborted = await abortAt('update-service', 'Check the smoke test of the manager node', {
      service: 'orders-api',
      artifact: 's3://apim-artifacts/orders-api/1.4.1/orders-api.car',
    });

    const recovery = await recover({ execution: aborted.executionArn, status: 'ABORTED' });

    expect(recovery.status).toBe('SUCCEEDED');
    expect(syncCommands.map((command) => command.action)).toEqual(['pause']);
    expect(recovered(recovery)?.recovering.syncLeftPaused).toMatchObject({
      reason: expect.stringContaining('never verified'),
    });
    // The changed manager stays out of service: the weights recorded once it was taken out.
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
    expect(recovery.path).toContain('Recover: report what was done');
    expect(RECOVERED_STEP).toMatch(/without its rollback/);
  });

  it('retires the replacement a stopped failover launched, and frees the lock for the next one', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active] = cluster.model.nodes;
    const node = simulated.nodes.get(active?.instanceId ?? '');
    if (node) node.healthStatus = 503;
    unhealthyTarget(active?.instanceId ?? '');
    const stopped = await abortAt('failover', 'Check whether the replacement node is ready', {
      slot: active?.slot,
      alarmName: 'test',
      detectedAt: new Date().toISOString(),
    });
    expect(await findSurgeNodes(ec2Client, cluster.model, { execution: stopped.executionArn })).toHaveLength(1);

    const recovery = await recover({ execution: stopped.executionArn, status: 'ABORTED' });

    expect(recovery.status).toBe('SUCCEEDED');
    expect(recovery.path).toContain('Terminate a leftover surge node');
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
    // The failover's own move stands: traffic stays off the lost node.
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
  });

  it('leaves a cluster alone while a running execution holds it', async () => {
    const { cluster } = await prepare('active-passive');
    const owner = await startMotoExecution('zerodown-test-cluster-patch-server', 'still-running');
    await acquireLock(lockStore(), stepFunctionsExecutions(sfnClient), {
      cluster: 'test-cluster',
      owner,
      workflow: 'patch-server',
      leaseSeconds: 3600,
    });

    const recovery = await recover({});

    expect(recovery.status).toBe('SUCCEEDED');
    expect(recovery.path.at(-1)).toBe('Nothing to recover: a running execution holds the cluster');
    expect((await readLock(lockStore(), 'test-cluster'))?.owner).toBe(owner);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });

  it('fences a workflow that lost its lock: its next change and its rollback touch nothing', async () => {
    const { cluster } = await prepare('active-passive');
    const failover = await startMotoExecution('zerodown-test-cluster-failover', 'took-over');
    const store = lockStore();

    const execution = await runLocally({
      stack: stack(),
      stateMachine: 'patch-server',
      input: { cluster: 'test-cluster', patchId: 'P42' },
      timeScale: 0.001,
      // A failover takes the lock over while the patched node is verified; the verification itself passes.
      taskOverrides: {
        'Verify the passive node': async () => {
          const holder = await readLock(store, 'test-cluster');
          await store.replaceIfHeldBy(
            'test-cluster',
            { ...(holder ?? { acquiredAt: '', expiresAt: '' }), owner: failover, workflow: 'failover' },
            holder?.owner ?? '',
          );
          return { instanceId: cluster.model.nodes[1]?.instanceId ?? '', passed: true };
        },
      },
    });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'LockLostError' });
    expect(execution.path).toContain('Hold the lock: Shift traffic to the patched node');
    expect(execution.path).not.toContain('Shift traffic to the patched node');
    expect(execution.path).not.toContain('Roll back: restore the snapshot weights');
    expect(execution.path).not.toContain('Roll back: deregister the surge node');
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
    expect((await readLock(store, 'test-cluster'))?.owner).toBe(failover);
  });
});
