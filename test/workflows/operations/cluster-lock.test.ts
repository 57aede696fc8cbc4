import { DescribeExecutionCommand, SFNClient, SFNServiceException, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { dynamodbClient } from '../../../functions/aws/clients/dynamodb';
import { sfnClient } from '../../../functions/aws/clients/sfn';
import { dynamoDbLockStore } from '../../../functions/aws/dynamodb';
import { stepFunctionsExecutions } from '../../../functions/aws/sfn';
import { ClusterLockedError, LockLostError } from '../../../functions/domain/errors';
import {
  acquireLock,
  claimForRecovery,
  type LockStore,
  leftToMaintenance,
  outOfServiceAfterTakeover,
  preemptLock,
  readLock,
  readLockState,
  recoveryTargetOf,
  releaseLock,
  renewLock,
} from '../../../functions/domain/lock';
import { injectError } from '../../../local/faults';
import { createLockTable, startMotoExecution } from '../../../local/moto-resources';
import { useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const execution = (name: string, machine = 'zerodown-test-cluster-patch-server') =>
  `arn:aws:states:us-east-1:123456789012:execution:${machine}:${name}`;
// Executions that exist nowhere: a lock they hold is stale, as a deleted state machine's would be.
const PATCH_1 = execution('patch-1');
const PATCH_2 = execution('patch-2');
const FAILOVER_1 = execution('alarm-1', 'zerodown-test-cluster-failover');
const executions = stepFunctionsExecutions(sfnClient);
/** A RUNNING execution in moto: a holder that is still at work. */
const running = (workflow: string, name: string) => startMotoExecution(`zerodown-test-cluster-${workflow}`, name);

describe('cluster lock', () => {
  useMoto();
  useFaults();
  let store: LockStore;
  const request = (owner: string, workflow = 'patch-server') => ({
    cluster: 'test-cluster',
    owner,
    workflow,
    leaseSeconds: 3600,
  });

  beforeEach(async () => {
    store = dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: await createLockTable() });
  });

  it('gives a free cluster to the first workflow', async () => {
    const holder = await acquireLock(store, executions, request(PATCH_1));

    expect(holder).toMatchObject({ owner: PATCH_1, workflow: 'patch-server' });
    expect(await readLock(store, 'test-cluster')).toEqual(holder);
  });

  it('lets the holder retry acquire without a conflict, keeping its acquisition time', async () => {
    const first = await acquireLock(store, executions, request(PATCH_1));
    const retried = await acquireLock(store, executions, request(PATCH_1));

    expect(retried.owner).toBe(PATCH_1);
    expect(retried.acquiredAt).toBe(first.acquiredAt);
  });

  it('refuses a second workflow with ClusterLockedError naming the holder', async () => {
    const patch = await running('patch-server', 'patch-1');
    await acquireLock(store, executions, request(patch));

    const error = await acquireLock(store, executions, request(PATCH_2, 'update-service')).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(ClusterLockedError);
    expect((error as Error).message).toContain(`locked by patch-server execution ${patch}`);
    expect((await readLock(store, 'test-cluster'))?.owner).toBe(patch);
  });

  it('takes over at once the lock of an execution that was aborted, and records whose it was', async () => {
    // The probe: an aborted patch kept its lock for the whole lease, and the next patch failed ClusterLockedError.
    const patch = await running('patch-server', 'aborted-patch');
    await acquireLock(store, executions, request(patch));
    await new SFNClient({}).send(new StopExecutionCommand({ executionArn: patch }));

    const holder = await acquireLock(store, executions, request(PATCH_2));

    expect(holder).toMatchObject({
      owner: PATCH_2,
      staleOwner: patch,
      staleWorkflow: 'patch-server',
      staleStatus: 'ABORTED',
    });
    expect(await readLock(store, 'test-cluster')).toEqual(holder);
    const retried = await acquireLock(store, executions, request(PATCH_2));
    expect(retried).toMatchObject({ acquiredAt: holder.acquiredAt, staleOwner: patch, staleStatus: 'ABORTED' });
  });

  it('takes over the lock of an execution that no longer exists', async () => {
    await acquireLock(store, executions, request(PATCH_1));

    const holder = await acquireLock(store, executions, request(PATCH_2));

    expect(holder).toMatchObject({ owner: PATCH_2, staleOwner: PATCH_1, staleStatus: 'GONE' });
  });

  it('lets another workflow take over an expired lease', async () => {
    const longAgo = { ...store, now: () => new Date(Date.now() - 2 * 3600_000) };
    await acquireLock(longAgo, executions, request(PATCH_1));

    const holder = await acquireLock(store, executions, request(PATCH_2));

    expect(holder.owner).toBe(PATCH_2);
  });

  it('renews the lease of the holder only', async () => {
    await acquireLock(store, executions, { ...request(PATCH_1), leaseSeconds: 60 });

    const renewed = await renewLock(store, request(PATCH_1));
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.now() + 3000_000);

    await expect(renewLock(store, request(PATCH_2))).rejects.toThrow(LockLostError);
    await expect(renewLock(store, request(PATCH_2))).rejects.toThrow(`patch-server execution ${PATCH_1} does`);
  });

  describe('recovery records', () => {
    const record = { weights: { a: 50, b: 50, surge: 0 }, baselineServing: 2 };

    it('keeps the record a renewal writes, and hands it to whoever takes the dead lock over', async () => {
      await acquireLock(store, executions, request(PATCH_1));
      await renewLock(store, { ...request(PATCH_1), recovery: record });

      const next = await acquireLock(store, executions, request(PATCH_2));

      expect(next).toMatchObject({ owner: PATCH_2, staleOwner: PATCH_1 });
      expect(next.staleRecovery).toEqual({ ...record, execution: PATCH_1, workflow: 'patch-server' });
      expect(recoveryTargetOf(next)).toMatchObject({
        execution: PATCH_1,
        workflow: 'patch-server',
        record: next.staleRecovery,
      });
    });

    it('passes the record on when its recoverer dies too, and recovers nothing from a free lock', async () => {
      await acquireLock(store, executions, request(PATCH_1));
      await renewLock(store, { ...request(PATCH_1), recovery: record });
      const recoverer = execution('recover-1', 'zerodown-test-cluster-recover');
      await claimForRecovery(store, executions, request(recoverer, 'recover'));

      const again = await claimForRecovery(store, executions, request(execution('recover-2'), 'recover'));

      expect(again.target).toMatchObject({ execution: PATCH_1, record: { weights: record.weights } });
      await releaseLock(store, 'test-cluster', again.holder.owner);
      expect(
        (await claimForRecovery(store, executions, request(execution('recover-3'), 'recover'))).target,
      ).toBeUndefined();
    });
  });

  it('releases for the holder, and never fails a release', async () => {
    await acquireLock(store, executions, request(PATCH_1));

    expect(await releaseLock(store, 'test-cluster', PATCH_2)).toMatchObject({
      released: false,
      heldBy: { owner: PATCH_1 },
    });
    expect(await releaseLock(store, 'test-cluster', PATCH_1)).toEqual({ released: true });
    expect(await releaseLock(store, 'test-cluster', PATCH_1)).toEqual({ released: true });
    expect(await readLock(store, 'test-cluster')).toBeUndefined();
  });

  describe('pre-emption by failover', () => {
    it('takes the lock from a maintenance workflow and stops its execution', async () => {
      const patch = await running('patch-server', 'patch-1');
      await acquireLock(store, executions, request(patch));

      const result = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      expect(result.holder).toMatchObject({ owner: FAILOVER_1, workflow: 'failover', preemptedOwner: patch });
      expect(result.preempted).toEqual({ owner: patch, workflow: 'patch-server', stopped: true });
      const stopped = await new SFNClient({}).send(new DescribeExecutionCommand({ executionArn: patch }));
      expect(stopped.status).toBe('ABORTED');
    });

    it('is idempotent when retried, and still reports whom it pre-empted', async () => {
      const patch = await running('patch-server', 'patch-1');
      await acquireLock(store, executions, request(patch));
      const first = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      const retried = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      expect(retried.holder.owner).toBe(FAILOVER_1);
      expect(retried.holder.acquiredAt).toBe(first.holder.acquiredAt);
      expect(retried.preempted?.owner).toBe(patch);
    });

    it('leaves to a workflow only the node its record, or the record it recovers, names as out of service', async () => {
      // A dead patch left node i-0a out of service; recover took its lock over and now recovers it.
      await acquireLock(store, executions, request(PATCH_1));
      await renewLock(store, { ...request(PATCH_1), recovery: { outOfService: ['i-0a'] } });
      const recover = await running('recover', 'recovering');
      await claimForRecovery(store, executions, request(recover, 'recover'));

      const state = await readLockState(store, executions, 'test-cluster');

      expect(leftToMaintenance(state, 'i-0a')).toBe(true);
      expect(leftToMaintenance(state, 'i-0b')).toBe(false);
      // A failover that pre-empts the recovery gets the record it was recovering, with the node out of service.
      const taken = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));
      expect(outOfServiceAfterTakeover(taken.holder)).toEqual(['i-0a']);
    });

    it('does not take the lock from another running failover (two alarms at once)', async () => {
      const first = await running('failover', 'first-alarm');
      await preemptLock(store, executions, request(first, 'failover'));

      const error = await preemptLock(store, executions, request(FAILOVER_1, 'failover')).catch(
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(ClusterLockedError);
      expect((error as Error).message).toContain(`failover execution ${first}`);
    });

    it('takes the lock from a failover that is no longer running', async () => {
      // The probe: a lock left by a dead failover disarmed every later failover ("Another failover is already on it").
      const dead = await running('failover', 'first-alarm');
      await preemptLock(store, executions, request(dead, 'failover'));
      await new SFNClient({}).send(new StopExecutionCommand({ executionArn: dead }));

      const result = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      expect(result.holder).toMatchObject({ owner: FAILOVER_1, staleOwner: dead, staleStatus: 'ABORTED' });
      expect(result.preempted).toBeUndefined();
    });

    it('takes the lock of a maintenance execution that no longer exists without stopping anything', async () => {
      await acquireLock(store, executions, request(PATCH_1));

      const result = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      expect(result.holder).toMatchObject({ owner: FAILOVER_1, staleOwner: PATCH_1, staleStatus: 'GONE' });
      expect(result.preempted).toBeUndefined();
    });

    it('keeps the lock and goes on when StopExecution fails after the take-over write', async () => {
      // The probe: the take-over write landed, StopExecution failed, and the failover failed holding the lock.
      const patch = await running('patch-server', 'patch-1');
      await acquireLock(store, executions, request(patch));
      // moto cannot fail StopExecution: the error is injected as if the SDK had used up its retries.
      const failing = injectError(
        sfnClient,
        'StopExecutionCommand',
        () =>
          new SFNServiceException({
            name: 'ServiceUnavailable',
            $fault: 'server',
            $metadata: { httpStatusCode: 503 },
            message: 'Service unavailable',
          }),
        { sdkRetriesExhausted: true },
      );

      const result = await preemptLock(store, executions, request(FAILOVER_1, 'failover'));

      expect(failing.hits).toBe(1);
      expect(result.holder).toMatchObject({ owner: FAILOVER_1, preemptedOwner: patch });
      expect(result.preempted).toEqual({
        owner: patch,
        workflow: 'patch-server',
        stopped: false,
        stopError: 'ServiceUnavailable: Service unavailable',
      });
      expect((await readLock(store, 'test-cluster'))?.owner).toBe(FAILOVER_1);
    });

    it('does not let a plain acquire take the lock from a running failover', async () => {
      const failover = await running('failover', 'first-alarm');
      await preemptLock(store, executions, request(failover, 'failover'));
      await expect(acquireLock(store, executions, request(PATCH_1))).rejects.toThrow(ClusterLockedError);
    });

    it('reads a lock held by an execution that ended as stale, never as maintenance', async () => {
      const patch = await running('patch-server', 'patch-1');
      await acquireLock(store, executions, request(patch));
      expect(await readLockState(store, executions, 'test-cluster')).toMatchObject({ maintenance: true });

      await new SFNClient({}).send(new StopExecutionCommand({ executionArn: patch }));

      expect(await readLockState(store, executions, 'test-cluster')).toEqual({
        maintenance: false,
        stale: { owner: patch, status: 'ABORTED' },
      });
    });
  });
});
