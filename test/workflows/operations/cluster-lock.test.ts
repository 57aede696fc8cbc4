import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { dynamodbClient } from '../../../functions/aws/clients/dynamodb';
import { sfnClient } from '../../../functions/aws/clients/sfn';
import { dynamoDbLockStore } from '../../../functions/aws/dynamodb';
import { stepFunctionsStopper } from '../../../functions/aws/sfn';
import { ClusterLockedError, LockLostError } from '../../../functions/domain/errors';
import {
  acquireLock,
  type LockStore,
  preemptLock,
  readLock,
  releaseLock,
  renewLock,
} from '../../../functions/domain/lock';
import { createLockTable, startMotoExecution } from '../../../local/moto-resources';
import { useMoto } from '../../harness/moto';

const execution = (name: string, machine = 'zerodown-test-cluster-patch-server') =>
  `arn:aws:states:us-east-1:123456789012:execution:${machine}:${name}`;
const PATCH_1 = execution('patch-1');
const PATCH_2 = execution('patch-2');
const FAILOVER_1 = execution('alarm-1', 'zerodown-test-cluster-failover');
const FAILOVER_2 = execution('alarm-2', 'zerodown-test-cluster-failover');
const stopper = stepFunctionsStopper(sfnClient);

describe('cluster lock', () => {
  useMoto();
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
    const holder = await acquireLock(store, request(PATCH_1));

    expect(holder).toMatchObject({ owner: PATCH_1, workflow: 'patch-server' });
    expect(await readLock(store, 'test-cluster')).toEqual(holder);
  });

  it('lets the holder retry acquire without a conflict, keeping its acquisition time', async () => {
    const first = await acquireLock(store, request(PATCH_1));
    const retried = await acquireLock(store, request(PATCH_1));

    expect(retried.owner).toBe(PATCH_1);
    expect(retried.acquiredAt).toBe(first.acquiredAt);
  });

  it('refuses a second workflow with ClusterLockedError naming the holder', async () => {
    await acquireLock(store, request(PATCH_1));

    const error = await acquireLock(store, request(PATCH_2, 'update-service')).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ClusterLockedError);
    expect((error as Error).message).toContain(`locked by patch-server execution ${PATCH_1}`);
    expect((await readLock(store, 'test-cluster'))?.owner).toBe(PATCH_1);
  });

  it('lets another workflow take over an expired lease', async () => {
    const longAgo = { ...store, now: () => new Date(Date.now() - 2 * 3600_000) };
    await acquireLock(longAgo, request(PATCH_1));

    const holder = await acquireLock(store, request(PATCH_2));

    expect(holder.owner).toBe(PATCH_2);
  });

  it('renews the lease of the holder only', async () => {
    await acquireLock(store, { ...request(PATCH_1), leaseSeconds: 60 });

    const renewed = await renewLock(store, request(PATCH_1));
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.now() + 3000_000);

    await expect(renewLock(store, request(PATCH_2))).rejects.toThrow(LockLostError);
    await expect(renewLock(store, request(PATCH_2))).rejects.toThrow(`patch-server execution ${PATCH_1} does`);
  });

  it('releases for the holder, and never fails a release', async () => {
    await acquireLock(store, request(PATCH_1));

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
      const patch = await startMotoExecution('zerodown-test-cluster-patch-server', 'patch-1');
      await acquireLock(store, request(patch));

      const result = await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));

      expect(result.holder).toMatchObject({ owner: FAILOVER_1, workflow: 'failover', preemptedOwner: patch });
      expect(result.preempted).toEqual({ owner: patch, workflow: 'patch-server', stopped: true });
      const stopped = await new SFNClient({}).send(new DescribeExecutionCommand({ executionArn: patch }));
      expect(stopped.status).toBe('ABORTED');
    });

    it('is idempotent when retried, and still reports whom it pre-empted', async () => {
      const patch = await startMotoExecution('zerodown-test-cluster-patch-server', 'patch-1');
      await acquireLock(store, request(patch));
      const first = await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));

      const retried = await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));

      expect(retried.holder.owner).toBe(FAILOVER_1);
      expect(retried.holder.acquiredAt).toBe(first.holder.acquiredAt);
      expect(retried.preempted?.owner).toBe(patch);
    });

    it('does not take the lock from another failover (two alarms at once)', async () => {
      await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));

      const error = await preemptLock(store, stopper, request(FAILOVER_2, 'failover')).catch(
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(ClusterLockedError);
      expect((error as Error).message).toContain(`failover execution ${FAILOVER_1}`);
    });

    it('takes the lock even when the pre-empted execution no longer exists', async () => {
      await acquireLock(store, request(PATCH_1));

      const result = await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));

      expect(result.holder.owner).toBe(FAILOVER_1);
      expect(result.preempted).toEqual({ owner: PATCH_1, workflow: 'patch-server', stopped: false });
    });

    it('does not let a plain acquire take the lock from a failover', async () => {
      await preemptLock(store, stopper, request(FAILOVER_1, 'failover'));
      await expect(acquireLock(store, request(PATCH_1))).rejects.toThrow(ClusterLockedError);
    });
  });
});
