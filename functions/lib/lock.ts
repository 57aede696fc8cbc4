import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ExecutionDoesNotExist, type SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { ClusterLockedError, LockLostError } from './errors';

/**
 * The cluster lock: one DynamoDB item per cluster holding a lease. Every write is conditional, so two workflows can
 * never both believe they hold it, and a retried call by the holder is a no-op rather than a conflict.
 */

/** Workflows that another workflow may never take the lock from. */
export const NON_PREEMPTIBLE_WORKFLOWS: readonly string[] = ['failover', 'region-failover'];

export interface LockHolder {
  readonly owner: string;
  readonly workflow: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  /** Set when this holder took the lock from a running maintenance execution. */
  readonly preemptedOwner?: string;
  readonly preemptedWorkflow?: string;
}

export interface LockStore {
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
  readonly now?: () => Date;
}

export interface LeaseRequest {
  readonly cluster: string;
  /** The execution ARN of the workflow taking the lock. */
  readonly owner: string;
  readonly workflow: string;
  readonly leaseSeconds: number;
}

export const lockIdOf = (cluster: string) => `cluster#${cluster}`;

function toItem(cluster: string, holder: LockHolder): Record<string, AttributeValue> {
  const expiresAtMs = Date.parse(holder.expiresAt);
  const item: Record<string, AttributeValue> = {
    lockId: { S: lockIdOf(cluster) },
    owner: { S: holder.owner },
    workflow: { S: holder.workflow },
    acquiredAt: { S: holder.acquiredAt },
    expiresAt: { S: holder.expiresAt },
    expiresAtEpochMs: { N: String(expiresAtMs) },
    // TTL sweeps long-dead leases a day after they expire; expiry itself is enforced by the conditions.
    expiresAtEpochSeconds: { N: String(Math.floor(expiresAtMs / 1000) + 86_400) },
  };
  if (holder.preemptedOwner) item.preemptedOwner = { S: holder.preemptedOwner };
  if (holder.preemptedWorkflow) item.preemptedWorkflow = { S: holder.preemptedWorkflow };
  return item;
}

function fromItem(item: Record<string, AttributeValue>): LockHolder {
  return {
    owner: item.owner?.S ?? '',
    workflow: item.workflow?.S ?? '',
    acquiredAt: item.acquiredAt?.S ?? '',
    expiresAt: item.expiresAt?.S ?? '',
    ...(item.preemptedOwner?.S ? { preemptedOwner: item.preemptedOwner.S } : {}),
    ...(item.preemptedWorkflow?.S ? { preemptedWorkflow: item.preemptedWorkflow.S } : {}),
  };
}

const nowOf = (store: LockStore) => (store.now ?? (() => new Date()))();

export async function readLock(store: LockStore, cluster: string): Promise<LockHolder | undefined> {
  const response = await store.dynamodb.send(
    new GetItemCommand({ TableName: store.tableName, Key: { lockId: { S: lockIdOf(cluster) } }, ConsistentRead: true }),
  );
  return response.Item ? fromItem(response.Item) : undefined;
}

function newLease(store: LockStore, request: LeaseRequest, acquiredAt?: string): LockHolder {
  const now = nowOf(store);
  return {
    owner: request.owner,
    workflow: request.workflow,
    acquiredAt: acquiredAt ?? now.toISOString(),
    expiresAt: new Date(now.getTime() + request.leaseSeconds * 1000).toISOString(),
  };
}

async function lockedError(store: LockStore, cluster: string, cause: unknown): Promise<ClusterLockedError> {
  const holder = await readLock(store, cluster);
  return new ClusterLockedError(
    cluster,
    holder ?? { owner: 'unknown (released meanwhile)', workflow: 'unknown', expiresAt: 'now' },
    { cause },
  );
}

/**
 * Takes the lock if it is free, expired, or already ours (a retry). Otherwise `ClusterLockedError` names the holder.
 */
export async function acquireLock(store: LockStore, request: LeaseRequest): Promise<LockHolder> {
  const current = await readLock(store, request.cluster);
  const lease = newLease(store, request, current?.owner === request.owner ? current.acquiredAt : undefined);
  try {
    await store.dynamodb.send(
      new PutItemCommand({
        TableName: store.tableName,
        Item: toItem(request.cluster, { ...lease, ...preemptionOf(current, request.owner) }),
        ConditionExpression: 'attribute_not_exists(lockId) OR expiresAtEpochMs < :now OR #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':now': { N: String(nowOf(store).getTime()) }, ':owner': { S: request.owner } },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw await lockedError(store, request.cluster, error);
    throw error;
  }
  return { ...lease, ...preemptionOf(current, request.owner) };
}

/** A retry by the holder keeps the record of whom it pre-empted. */
function preemptionOf(current: LockHolder | undefined, owner: string) {
  if (current?.owner !== owner || !current.preemptedOwner) return {};
  return { preemptedOwner: current.preemptedOwner, preemptedWorkflow: current.preemptedWorkflow };
}

/** Extends the lease of the holder. Fails with `LockLostError` if the caller no longer holds the lock. */
export async function renewLock(store: LockStore, request: LeaseRequest): Promise<LockHolder> {
  const lease = newLease(store, request);
  try {
    const response = await store.dynamodb.send(
      new UpdateItemCommand({
        TableName: store.tableName,
        Key: { lockId: { S: lockIdOf(request.cluster) } },
        UpdateExpression: 'SET expiresAt = :expiresAt, expiresAtEpochMs = :ms, expiresAtEpochSeconds = :ttl',
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: {
          ':owner': { S: request.owner },
          ':expiresAt': { S: lease.expiresAt },
          ':ms': { N: String(Date.parse(lease.expiresAt)) },
          ':ttl': { N: String(Math.floor(Date.parse(lease.expiresAt) / 1000) + 86_400) },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return fromItem(response.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      const holder = await readLock(store, request.cluster);
      throw new LockLostError(
        `Execution ${request.owner} no longer holds the lock of cluster "${request.cluster}"` +
          (holder ? `: ${holder.workflow} execution ${holder.owner} does` : ''),
        { cause: error },
      );
    }
    throw error;
  }
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
  try {
    await store.dynamodb.send(
      new DeleteItemCommand({
        TableName: store.tableName,
        Key: { lockId: { S: lockIdOf(cluster) } },
        ConditionExpression: 'attribute_not_exists(lockId) OR #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': { S: owner } },
      }),
    );
    return { released: true };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      const holder = await readLock(store, cluster);
      return holder ? { released: false, heldBy: holder } : { released: true };
    }
    throw error;
  }
}

/**
 * Who holds the lock now, if anyone (a lease past its expiry holds nothing), and whether the holder is a maintenance
 * workflow, which a failover may pre-empt.
 */
export async function readLockState(
  store: LockStore,
  cluster: string,
): Promise<{ holder?: LockHolder; maintenance: boolean }> {
  const holder = await readLock(store, cluster);
  if (!holder || Date.parse(holder.expiresAt) <= nowOf(store).getTime()) return { maintenance: false };
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
export async function preemptLock(store: LockStore, sfn: SFNClient, request: LeaseRequest): Promise<PreemptResult> {
  for (let round = 0; round < MAX_PREEMPT_ROUNDS; round++) {
    const current = await readLock(store, request.cluster);
    const expired = current !== undefined && Date.parse(current.expiresAt) < nowOf(store).getTime();
    if (!current || expired || current.owner === request.owner) {
      const holder = await acquireLock(store, request);
      return { holder, ...(await stopPreempted(sfn, holder, request)) };
    }
    if (NON_PREEMPTIBLE_WORKFLOWS.includes(current.workflow)) {
      throw new ClusterLockedError(request.cluster, current);
    }
    const holder: LockHolder = {
      ...newLease(store, request),
      preemptedOwner: current.owner,
      preemptedWorkflow: current.workflow,
    };
    try {
      await store.dynamodb.send(
        new PutItemCommand({
          TableName: store.tableName,
          Item: toItem(request.cluster, holder),
          ConditionExpression: '#owner = :previous',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':previous': { S: current.owner } },
        }),
      );
      return { holder, ...(await stopPreempted(sfn, holder, request)) };
    } catch (error) {
      // The lock changed hands between the read and the write: look again.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
  throw await lockedError(store, request.cluster, new Error(`lock kept changing hands ${MAX_PREEMPT_ROUNDS} times`));
}

async function stopPreempted(sfn: SFNClient, holder: LockHolder, request: LeaseRequest) {
  if (!holder.preemptedOwner) return {};
  let stopped = true;
  try {
    await sfn.send(
      new StopExecutionCommand({
        executionArn: holder.preemptedOwner,
        error: 'PreemptedByFailoverError',
        cause: `${request.workflow} execution ${request.owner} took over cluster "${request.cluster}"`,
      }),
    );
  } catch (error) {
    if (!(error instanceof ExecutionDoesNotExist)) throw error;
    stopped = false;
  }
  return {
    preempted: { owner: holder.preemptedOwner, workflow: holder.preemptedWorkflow ?? 'unknown', stopped },
  };
}
