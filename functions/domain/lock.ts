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

/**
 * What a workflow writes next to its lock as it goes, so that whoever recovers from its death restores exactly what it
 * knew to be safe instead of guessing: the weights it would roll back to from where it is, and file sync as it left
 * it. Surge nodes need no entry: each carries the execution's id as a tag.
 */
export interface RecoveryRecord {
  /** The execution the record is about: whose surge nodes to retire and whose commands to cancel. */
  readonly execution: string;
  readonly workflow: string;
  /** The last weights known to be safe, by slot, and the healthy serving count they were planned against. */
  readonly weights?: Readonly<Record<string, number>>;
  readonly baselineServing?: number;
  /**
   * Nodes the workflow took out of service (drained, or sent a command that may restart them) and has not verified
   * since. A failover leaves such a node's loss to the workflow, and never moves traffic to it.
   */
  readonly outOfService?: readonly string[];
  /**
   * Once an upgrade's migrations started on a schema the old version cannot run on: the version every node must run
   * to take traffic or a slot. Null (or absent) otherwise.
   */
  readonly migratedTo?: string | null;
  /** File sync on the manager: paused by the workflow, and whether the manager holds an unverified change since. */
  readonly sync?: {
    readonly paused: boolean;
    readonly changed: boolean;
    readonly instanceId?: string;
    /** The command that resumes it, as the plan put it. */
    readonly resume?: { readonly kind: string; readonly input?: string };
  };
}

export interface LockHolder {
  readonly owner: string;
  readonly workflow: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  /** Set when this holder took the lock from a running maintenance execution. */
  readonly preemptedOwner?: string;
  readonly preemptedWorkflow?: string;
  /**
   * Set when this holder took the lock over from an execution that had ended without releasing it (aborted, timed
   * out, failed outside its Catch, or deleted): whose it was and how that execution ended.
   */
  readonly staleOwner?: string;
  readonly staleWorkflow?: string;
  readonly staleStatus?: string;
  /** What this holder wrote for its own recovery (see `renewLock`). */
  readonly recovery?: RecoveryRecord;
  /**
   * The record of the holder this one took the lock from, dead or pre-empted: what recovery restores before anything
   * else (a failover, which moves the traffic itself, takes only its file sync rules).
   */
  readonly staleRecovery?: RecoveryRecord;
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
  /**
   * Sets the expiry (and the recovery record, when given) if `owner` holds the lock, and answers the holder;
   * undefined when `owner` does not hold it.
   */
  extendIfOwn(
    cluster: string,
    owner: string,
    expiresAt: string,
    recovery?: RecoveryRecord,
  ): Promise<LockHolder | undefined>;
  /** Removes the lock if it is gone or `owner`'s; false when someone else holds it. */
  deleteIfOwn(cluster: string, owner: string): Promise<boolean>;
  /** Writes `holder` if the lock is still held by `previousOwner`; false when it changed hands meanwhile. */
  replaceIfHeldBy(cluster: string, holder: LockHolder, previousOwner: string): Promise<boolean>;
}

/** How the lock sees a holder's execution: `RUNNING`, how it ended, or `GONE` when it no longer exists. */
export type HolderStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE' | 'GONE';

/** The executions that hold locks: whether one still runs, and stopping one a failover took the lock from. */
export interface WorkflowExecutions {
  /** The execution's status now; `GONE` when it (or its state machine) no longer exists. */
  status(executionArn: string): Promise<HolderStatus>;
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

/** A retry by the holder keeps the record of whom it pre-empted or took a stale lock from. */
function takenFrom(current: LockHolder | undefined, owner: string): Partial<LockHolder> {
  if (current?.owner !== owner) return {};
  const { preemptedOwner, preemptedWorkflow, staleOwner, staleWorkflow, staleStatus, recovery, staleRecovery } =
    current;
  return Object.fromEntries(
    Object.entries({
      preemptedOwner,
      preemptedWorkflow,
      staleOwner,
      staleWorkflow,
      staleStatus,
      recovery,
      staleRecovery,
    }).filter(([, value]) => value !== undefined),
  );
}

/**
 * Takes over the lock of an execution that is no longer running. The write holds only if the lock is still the dead
 * holder's, so two workflows racing for it cannot both win. Answers undefined when it changed hands meanwhile.
 */
async function takeOverStale(
  store: LockStore,
  request: LeaseRequest,
  stale: LockHolder,
  status: HolderStatus,
): Promise<LockHolder | undefined> {
  // A holder that died while it was still recovering someone else passes that record on.
  const staleRecovery = stale.recovery ?? stale.staleRecovery;
  const holder: LockHolder = {
    ...newLease(store, request),
    staleOwner: stale.owner,
    staleWorkflow: stale.workflow,
    staleStatus: status,
    ...(staleRecovery ? { staleRecovery } : {}),
  };
  return (await store.replaceIfHeldBy(request.cluster, holder, stale.owner)) ? holder : undefined;
}

const MAX_LOCK_ROUNDS = 3;

export function readLock(store: LockStore, cluster: string): Promise<LockHolder | undefined> {
  return store.read(cluster);
}

/**
 * Takes the lock if it is free, expired, already ours (a retry), or held by an execution that is no longer running
 * (an abort, a timeout or a crash ended it without its release). Otherwise `ClusterLockedError` names the holder.
 */
export async function acquireLock(
  store: LockStore,
  executions: WorkflowExecutions,
  request: LeaseRequest,
): Promise<LockHolder> {
  for (let round = 0; round < MAX_LOCK_ROUNDS; round++) {
    const current = await store.read(request.cluster);
    const lease = newLease(store, request, current?.owner === request.owner ? current.acquiredAt : undefined);
    const holder = { ...lease, ...takenFrom(current, request.owner) };
    if (await store.putIfFreeOrOwn(request.cluster, holder, store.now())) return holder;

    const blocking = await store.read(request.cluster);
    if (!blocking) continue; // released between the write and the read: try again
    const status = await executions.status(blocking.owner);
    if (status === 'RUNNING') throw new ClusterLockedError(request.cluster, blocking);
    const taken = await takeOverStale(store, request, blocking, status);
    if (taken) return taken;
  }
  throw await lockedError(store, request.cluster, new Error(`lock kept changing hands ${MAX_LOCK_ROUNDS} times`));
}

/**
 * Extends the lease of the holder and, when given, keeps what its recovery would need. Every mutating step of a
 * workflow calls it first, so it is also the fence: a step of an execution that no longer holds the lock fails here
 * with `LockLostError`, by a conditional write, before it touches anything.
 */
export async function renewLock(
  store: LockStore,
  request: LeaseRequest & { recovery?: Omit<RecoveryRecord, 'execution' | 'workflow'> },
): Promise<LockHolder> {
  const lease = newLease(store, request);
  const recovery = request.recovery && { ...request.recovery, execution: request.owner, workflow: request.workflow };
  const renewed = await store.extendIfOwn(request.cluster, request.owner, lease.expiresAt, recovery);
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
 * Who holds the lock now, if anyone, and whether the holder is a running maintenance workflow, which a failover may
 * pre-empt. A lease past its expiry, or held by an execution that is no longer running, holds nothing: it is
 * answered as `stale`, so a failover never stands back for a workflow that is gone.
 */
export async function readLockState(
  store: LockStore,
  executions: WorkflowExecutions,
  cluster: string,
): Promise<{ holder?: LockHolder; maintenance: boolean; stale?: { owner: string; status: HolderStatus | 'EXPIRED' } }> {
  const holder = await store.read(cluster);
  if (!holder) return { maintenance: false };
  if (Date.parse(holder.expiresAt) <= store.now().getTime()) {
    return { maintenance: false, stale: { owner: holder.owner, status: 'EXPIRED' } };
  }
  const status = await executions.status(holder.owner);
  if (status !== 'RUNNING') return { maintenance: false, stale: { owner: holder.owner, status } };
  return { holder, maintenance: !NON_PREEMPTIBLE_WORKFLOWS.includes(holder.workflow) };
}

export interface PreemptResult {
  readonly holder: LockHolder;
  /** The maintenance execution that was stopped, if any. */
  readonly preempted?: {
    readonly owner: string;
    readonly workflow: string;
    readonly stopped: boolean;
    /** Why StopExecution failed, when it did: the failover goes on, and the report says so. */
    readonly stopError?: string;
  };
}

/**
 * Takes the lock for a failover: from a running maintenance workflow, which it then stops so it cannot touch the
 * cluster again, and from any execution that is no longer running, a failover's included. Another running failover
 * is never pre-empted: `ClusterLockedError` tells the second alarm's execution that the first one is already on it.
 */
export async function preemptLock(
  store: LockStore,
  executions: WorkflowExecutions,
  request: LeaseRequest,
): Promise<PreemptResult> {
  for (let round = 0; round < MAX_LOCK_ROUNDS; round++) {
    const current = await store.read(request.cluster);
    const expired = current !== undefined && Date.parse(current.expiresAt) < store.now().getTime();
    if (!current || expired || current.owner === request.owner) {
      const holder = await acquireLock(store, executions, request);
      return { holder, ...(await stopPreempted(executions, holder, request)) };
    }
    const status = await executions.status(current.owner);
    if (status !== 'RUNNING') {
      const holder = await takeOverStale(store, request, current, status);
      if (holder) return { holder };
      continue;
    }
    if (NON_PREEMPTIBLE_WORKFLOWS.includes(current.workflow)) {
      throw new ClusterLockedError(request.cluster, current);
    }
    // A pre-empted recovery passes on the record of the execution it was recovering.
    const staleRecovery = current.recovery ?? current.staleRecovery;
    const holder: LockHolder = {
      ...newLease(store, request),
      preemptedOwner: current.owner,
      preemptedWorkflow: current.workflow,
      ...(staleRecovery ? { staleRecovery } : {}),
    };
    if (await store.replaceIfHeldBy(request.cluster, holder, current.owner)) {
      return { holder, ...(await stopPreempted(executions, holder, request)) };
    }
    // The lock changed hands between the read and the write: look again.
  }
  throw await lockedError(store, request.cluster, new Error(`lock kept changing hands ${MAX_LOCK_ROUNDS} times`));
}

/**
 * Stops the pre-empted execution. The failover holds the lock by now, so a StopExecution that fails must not fail
 * the failover (which would strand the lock with it): the failure is reported and the failover goes on.
 */
async function stopPreempted(executions: WorkflowExecutions, holder: LockHolder, request: LeaseRequest) {
  if (!holder.preemptedOwner) return {};
  const preempted = { owner: holder.preemptedOwner, workflow: holder.preemptedWorkflow ?? 'unknown' };
  try {
    const stopped = await executions.stop(
      holder.preemptedOwner,
      'PreemptedByFailoverError' satisfies ErrorName,
      `${request.workflow} execution ${request.owner} took over cluster "${request.cluster}"`,
    );
    return { preempted: { ...preempted, stopped } };
  } catch (error) {
    const stopError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { preempted: { ...preempted, stopped: false, stopError } };
  }
}

/**
 * Whether a failover leaves the loss of `instanceId` to the workflow holding the lock: only when that workflow is a
 * running maintenance workflow whose record names the very node as taken out of service and not yet verified, so its
 * own checks are still to come; or the record of a dead workflow it is recovering does (a recovery waits for that
 * node's command to end and for the node to pass the capacity guard again). A node that is merely idle, or one a dead
 * workflow left with nobody recovering it, is the failover's.
 */
export function leftToMaintenance(state: { holder?: LockHolder; maintenance: boolean }, instanceId: string): boolean {
  return state.maintenance && state.holder !== undefined && outOfServiceIn(state.holder).includes(instanceId);
}

/** The nodes a holder's own record names as out of service, and those of the record it took over. */
function outOfServiceIn(holder: LockHolder): string[] {
  return [...(holder.recovery?.outOfService ?? []), ...(holder.staleRecovery?.outOfService ?? [])];
}

/**
 * The version the holder a failover took the lock from had migrated the database for, when the old version cannot
 * run on it: the failover holds standbys and replacements to it, even with no survivor to compare with.
 */
export function migratedToAfterTakeover(holder: LockHolder): string | null {
  return holder.staleRecovery?.migratedTo ?? null;
}

/** The nodes the holder a failover took the lock from left out of service: they are no survivors. */
export function outOfServiceAfterTakeover(holder: LockHolder): string[] {
  return [...(holder.staleRecovery?.outOfService ?? [])];
}

/** What a recovery takes on: the dead execution, and the record it left, when it left one. */
export interface RecoveryTarget {
  readonly execution: string;
  readonly workflow: string;
  /** How it ended, when the lock or the caller knows. */
  readonly status?: string;
  readonly record?: RecoveryRecord;
}

export interface RecoveryClaim {
  readonly holder: LockHolder;
  /** Absent when nothing was left behind: the lock was free and no execution was named. */
  readonly target?: RecoveryTarget;
}

/**
 * Takes the lock for the recover workflow and works out whom it recovers: the dead execution whose lock it took over
 * (with the record that execution wrote), else the execution the caller names (an ended execution reported by
 * Step Functions, which may have left surge nodes or commands behind without holding the lock). A lock that a
 * running execution holds is that execution's cluster: `ClusterLockedError`, and recovery leaves it alone.
 */
export async function claimForRecovery(
  store: LockStore,
  executions: WorkflowExecutions,
  request: LeaseRequest & { execution?: string; status?: string },
): Promise<RecoveryClaim> {
  const holder = await acquireLock(store, executions, request);
  const target = recoveryTargetOf(holder);
  if (target) return { holder, target };
  if (!request.execution) return { holder };
  return {
    holder,
    target: {
      execution: request.execution,
      workflow: workflowOfExecution(request.execution),
      ...(request.status ? { status: request.status } : {}),
    },
  };
}

/**
 * The dead execution a holder took the lock from, with the record it left: what the new holder recovers before it
 * does anything else. Undefined when the lock was free or expired.
 */
export function recoveryTargetOf(holder: LockHolder): RecoveryTarget | undefined {
  const status = holder.staleStatus ? { status: holder.staleStatus } : {};
  const record = holder.staleRecovery;
  if (record) return { execution: record.execution, workflow: record.workflow, record, ...status };
  if (holder.staleOwner)
    return { execution: holder.staleOwner, workflow: holder.staleWorkflow ?? 'unknown', ...status };
  return undefined;
}

/** The workflow of an execution of one of zerodown's state machines, `…:execution:zerodown-<cluster>-<workflow>:…`. */
function workflowOfExecution(executionArn: string): string {
  const stateMachine = executionArn.split(':')[6] ?? '';
  return WORKFLOW_NAMES.find((name) => stateMachine.endsWith(`-${name}`)) ?? 'unknown';
}
