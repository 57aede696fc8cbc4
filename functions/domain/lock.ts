import { ClusterLockedError, type ErrorName, LockLostError } from './errors';
import { WORKFLOW_NAMES, WORKFLOWS } from './workflows';

/**
 * The cluster lock's rules: who may take the lease, extend it, give it back, and take it over. One lock per cluster
 * holds a lease; every write to the store is conditional, so two workflows can never both believe they hold it, and
 * a retried call by the holder is a no-op rather than a conflict.
 *
 * The rules live here; the store is a port (`LockStore`) with a DynamoDB adapter in `aws/dynamodb.ts`, as the
 * persistence layer of Powertools' idempotency utility is split.
 */

/** Workflows that another workflow may never take the lock from: the recovery workflows of the registry. */
export const NON_PREEMPTIBLE_WORKFLOWS: readonly string[] = WORKFLOW_NAMES.filter(
  (name) => WORKFLOWS[name].kind === 'recovery',
);

export interface LockHolder {
  readonly owner: string;
  readonly workflow: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  /** Set when this holder took the lock from a running maintenance execution. */
  readonly preemptedOwner?: string;
  readonly preemptedWorkflow?: string;
}

export interface LeaseRequest {
  readonly cluster: string;
  /** The execution ARN of the workflow taking the lock. */
  readonly owner: string;
  readonly workflow: string;
  readonly leaseSeconds: number;
}

/** What the lock needs of a store: a consistent read and writes that hold only under their condition. */
export interface LockStore {
  /** The clock the leases are measured by. */
  now(): Date;
  read(cluster: string): Promise<LockHolder | undefined>;
  /** Writes `holder` if the lock is free, expired at `now`, or already `holder.owner`'s; false otherwise. */
  putIfFreeOrOwn(cluster: string, holder: LockHolder, now: Date): Promise<boolean>;
  /** Sets the expiry if `owner` holds the lock, and answers the holder; undefined when `owner` does not hold it. */
  extendIfOwn(cluster: string, owner: string, expiresAt: string): Promise<LockHolder | undefined>;
  /** Removes the lock if it is gone or `owner`'s; false when someone else holds it. */
  deleteIfOwn(cluster: string, owner: string): Promise<boolean>;
  /** Writes `holder` if the lock is still held by `previousOwner`; false when it changed hands meanwhile. */
  replaceIfHeldBy(cluster: string, holder: LockHolder, previousOwner: string): Promise<boolean>;
}

/** Stops the execution that held a lock taken over from it. */
export interface ExecutionStopper {
  /** Stops the execution; false when it no longer exists. */
  stop(executionArn: string, error: string, cause: string): Promise<boolean>;
}

function newLease(store: LockStore, request: LeaseRequest, acquiredAt?: string): LockHolder {
  const now = store.now();
  return {
    owner: request.owner,
    workflow: request.workflow,
    acquiredAt: acquiredAt ?? now.toISOString(),
    expiresAt: new Date(now.getTime() + request.leaseSeconds * 1000).toISOString(),
  };
}

async function lockedError(store: LockStore, cluster: string, cause: unknown): Promise<ClusterLockedError> {
  const holder = await store.read(cluster);
  return new ClusterLockedError(
    cluster,
    holder ?? { owner: 'unknown (released meanwhile)', workflow: 'unknown', expiresAt: 'now' },
    { cause },
  );
}

/** A retry by the holder keeps the record of whom it pre-empted. */
function preemptionOf(current: LockHolder | undefined, owner: string) {
  if (current?.owner !== owner || !current.preemptedOwner) return {};
  return { preemptedOwner: current.preemptedOwner, preemptedWorkflow: current.preemptedWorkflow };
}

export function readLock(store: LockStore, cluster: string): Promise<LockHolder | undefined> {
  return store.read(cluster);
}

/**
 * Takes the lock if it is free, expired, or already ours (a retry). Otherwise `ClusterLockedError` names the holder.
 */
export async function acquireLock(store: LockStore, request: LeaseRequest): Promise<LockHolder> {
  const current = await store.read(request.cluster);
  const lease = newLease(store, request, current?.owner === request.owner ? current.acquiredAt : undefined);
  const holder = { ...lease, ...preemptionOf(current, request.owner) };
  if (!(await store.putIfFreeOrOwn(request.cluster, holder, store.now()))) {
    throw await lockedError(
      store,
      request.cluster,
      new Error('the conditional write failed: another workflow holds it'),
    );
  }
  return holder;
}

/** Extends the lease of the holder. Fails with `LockLostError` if the caller no longer holds the lock. */
export async function renewLock(store: LockStore, request: LeaseRequest): Promise<LockHolder> {
  const lease = newLease(store, request);
  const renewed = await store.extendIfOwn(request.cluster, request.owner, lease.expiresAt);
  if (renewed) return renewed;
  const holder = await store.read(request.cluster);
  throw new LockLostError(
    `Execution ${request.owner} no longer holds the lock of cluster "${request.cluster}"` +
      (holder ? `: ${holder.workflow} execution ${holder.owner} does` : ''),
  );
}

export interface ReleaseResult {
  readonly released: boolean;
  /** Who holds the lock now, when it was not ours to release. */
  readonly heldBy?: LockHolder;
}

/**
 * Releases the lock if the caller holds it. Releasing a lock that is gone or held by another is not an error: a
 * rollback must always be able to finish.
 */
export async function releaseLock(store: LockStore, cluster: string, owner: string): Promise<ReleaseResult> {
  if (await store.deleteIfOwn(cluster, owner)) return { released: true };
  const holder = await store.read(cluster);
  return holder ? { released: false, heldBy: holder } : { released: true };
}

/**
 * Who holds the lock now, if anyone (a lease past its expiry holds nothing), and whether the holder is a maintenance
 * workflow, which a failover may pre-empt.
 */
export async function readLockState(
  store: LockStore,
  cluster: string,
): Promise<{ holder?: LockHolder; maintenance: boolean }> {
  const holder = await store.read(cluster);
  if (!holder || Date.parse(holder.expiresAt) <= store.now().getTime()) return { maintenance: false };
  return { holder, maintenance: !NON_PREEMPTIBLE_WORKFLOWS.includes(holder.workflow) };
}

export interface PreemptResult {
  readonly holder: LockHolder;
  /** The maintenance execution that was stopped, if any. */
  readonly preempted?: { readonly owner: string; readonly workflow: string; readonly stopped: boolean };
}

const MAX_PREEMPT_ROUNDS = 3;

/**
 * Takes the lock for a failover, even from a running maintenance workflow, and then stops that execution so it
 * cannot touch the cluster again. Another failover is never pre-empted: `ClusterLockedError` tells the second
 * alarm's execution that the first one is already on it.
 */
export async function preemptLock(
  store: LockStore,
  stopper: ExecutionStopper,
  request: LeaseRequest,
): Promise<PreemptResult> {
  for (let round = 0; round < MAX_PREEMPT_ROUNDS; round++) {
    const current = await store.read(request.cluster);
    const expired = current !== undefined && Date.parse(current.expiresAt) < store.now().getTime();
    if (!current || expired || current.owner === request.owner) {
      const holder = await acquireLock(store, request);
      return { holder, ...(await stopPreempted(stopper, holder, request)) };
    }
    if (NON_PREEMPTIBLE_WORKFLOWS.includes(current.workflow)) {
      throw new ClusterLockedError(request.cluster, current);
    }
    const holder: LockHolder = {
      ...newLease(store, request),
      preemptedOwner: current.owner,
      preemptedWorkflow: current.workflow,
    };
    if (await store.replaceIfHeldBy(request.cluster, holder, current.owner)) {
      return { holder, ...(await stopPreempted(stopper, holder, request)) };
    }
    // The lock changed hands between the read and the write: look again.
  }
  throw await lockedError(store, request.cluster, new Error(`lock kept changing hands ${MAX_PREEMPT_ROUNDS} times`));
}

async function stopPreempted(stopper: ExecutionStopper, holder: LockHolder, request: LeaseRequest) {
  if (!holder.preemptedOwner) return {};
  const stopped = await stopper.stop(
    holder.preemptedOwner,
    'PreemptedByFailoverError' satisfies ErrorName,
    `${request.workflow} execution ${request.owner} took over cluster "${request.cluster}"`,
  );
  return {
    preempted: { owner: holder.preemptedOwner, workflow: holder.preemptedWorkflow ?? 'unknown', stopped },
  };
}
