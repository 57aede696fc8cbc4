import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { LockHolder, LockStore, RecoveryRecord } from '../domain/lock';

/** The cluster lock in DynamoDB: one item per cluster, every write conditional (see domain/lock.ts). */

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
    expiresAtEpochSeconds: { N: String(ttlOf(holder.expiresAt)) },
  };
  for (const field of TAKEN_FROM_FIELDS) {
    const value = holder[field];
    if (value) item[field] = { S: value };
  }
  for (const field of RECORD_FIELDS) {
    const value = holder[field];
    if (value) item[field] = { S: JSON.stringify(value) };
  }
  return item;
}

/** Whom a holder took the lock from, kept beside it for the recovery of that execution and the report. */
const TAKEN_FROM_FIELDS = [
  'preemptedOwner',
  'preemptedWorkflow',
  'staleOwner',
  'staleWorkflow',
  'staleStatus',
] as const satisfies readonly (keyof LockHolder)[];

/** The recovery records, kept as JSON: recovery reads them whole and nothing queries inside them. */
const RECORD_FIELDS = ['recovery', 'staleRecovery'] as const satisfies readonly (keyof LockHolder)[];

function recordOf(value: AttributeValue | undefined): RecoveryRecord | undefined {
  return value?.S ? (JSON.parse(value.S) as RecoveryRecord) : undefined;
}

const ttlOf = (expiresAt: string) => Math.floor(Date.parse(expiresAt) / 1000) + 86_400;

function fromItem(item: Record<string, AttributeValue>): LockHolder {
  return {
    owner: item.owner?.S ?? '',
    workflow: item.workflow?.S ?? '',
    acquiredAt: item.acquiredAt?.S ?? '',
    expiresAt: item.expiresAt?.S ?? '',
    ...Object.fromEntries(
      TAKEN_FROM_FIELDS.flatMap((field) => (item[field]?.S ? [[field, item[field].S] as const] : [])),
    ),
    ...Object.fromEntries(
      RECORD_FIELDS.flatMap((field) => {
        const record = recordOf(item[field]);
        return record ? [[field, record] as const] : [];
      }),
    ),
  };
}

/** A write whose condition failed answers false; any other error is the caller's to see. */
async function conditional<T>(write: () => Promise<T>): Promise<T | false> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

export function dynamoDbLockStore(options: {
  dynamodb: DynamoDBClient;
  tableName: string;
  /** @default - the system clock */
  now?: () => Date;
}): LockStore {
  const { dynamodb, tableName } = options;
  const key = (cluster: string) => ({ lockId: { S: lockIdOf(cluster) } });
  const byOwner = { '#owner': 'owner' };
  return {
    now: options.now ?? (() => new Date()),
    read: async (cluster) => {
      const response = await dynamodb.send(
        new GetItemCommand({ TableName: tableName, Key: key(cluster), ConsistentRead: true }),
      );
      return response.Item ? fromItem(response.Item) : undefined;
    },
    putIfFreeOrOwn: async (cluster, holder, now) =>
      (await conditional(() =>
        dynamodb.send(
          new PutItemCommand({
            TableName: tableName,
            Item: toItem(cluster, holder),
            ConditionExpression: 'attribute_not_exists(lockId) OR expiresAtEpochMs < :now OR #owner = :owner',
            ExpressionAttributeNames: byOwner,
            ExpressionAttributeValues: { ':now': { N: String(now.getTime()) }, ':owner': { S: holder.owner } },
          }),
        ),
      )) !== false,
    extendIfOwn: async (cluster, owner, expiresAt, recovery) => {
      const response = await conditional(() =>
        dynamodb.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key(cluster),
            UpdateExpression:
              'SET expiresAt = :expiresAt, expiresAtEpochMs = :ms, expiresAtEpochSeconds = :ttl' +
              (recovery ? ', recovery = :recovery' : ''),
            ConditionExpression: '#owner = :owner',
            ExpressionAttributeNames: byOwner,
            ExpressionAttributeValues: {
              ':owner': { S: owner },
              ':expiresAt': { S: expiresAt },
              ':ms': { N: String(Date.parse(expiresAt)) },
              ':ttl': { N: String(ttlOf(expiresAt)) },
              ...(recovery ? { ':recovery': { S: JSON.stringify(recovery) } } : {}),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return response === false ? undefined : fromItem(response.Attributes ?? {});
    },
    deleteIfOwn: async (cluster, owner) =>
      (await conditional(() =>
        dynamodb.send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: key(cluster),
            ConditionExpression: 'attribute_not_exists(lockId) OR #owner = :owner',
            ExpressionAttributeNames: byOwner,
            ExpressionAttributeValues: { ':owner': { S: owner } },
          }),
        ),
      )) !== false,
    replaceIfHeldBy: async (cluster, holder, previousOwner) =>
      (await conditional(() =>
        dynamodb.send(
          new PutItemCommand({
            TableName: tableName,
            Item: toItem(cluster, holder),
            ConditionExpression: '#owner = :previous',
            ExpressionAttributeNames: byOwner,
            ExpressionAttributeValues: { ':previous': { S: previousOwner } },
          }),
        ),
      )) !== false,
  };
}
