import * as z from 'zod/mini';
import { dynamodbClient } from './aws/clients/dynamodb';
import { sfnClient } from './aws/clients/sfn';
import { dynamoDbLockStore } from './aws/dynamodb';
import { stepFunctionsExecutions } from './aws/sfn';
import { requireEnv } from './domain/errors';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { acquireLock, preemptLock, readLockState, releaseLock, renewLock } from './domain/lock';
import { assertOwnCluster } from './domain/own-cluster';

const store = dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: requireEnv('LOCK_TABLE_NAME') });
const executions = stepFunctionsExecutions(sfnClient);

const lease = {
  ...clusterInput,
  owner: executionArnInput,
  workflow: z.string().check(z.regex(/^[a-z][a-z-]{2,40}$/, 'must be a workflow name such as patch-server')),
  leaseSeconds: z._default(z.int().check(z.minimum(60), z.maximum(86_400)), 3_600),
};
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('acquire'), ...lease }),
  z.strictObject({ action: z.literal('renew'), ...lease }),
  z.strictObject({ action: z.literal('preempt'), ...lease }),
  z.strictObject({ action: z.literal('release'), ...clusterInput, owner: executionArnInput }),
  z.strictObject({ action: z.literal('read'), ...clusterInput }),
]);
export type ClusterLockInput = z.input<typeof inputSchema>;

/** Acquire, renew, release, pre-empt or read the cluster's lease. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'cluster-lock');
  assertOwnCluster(input.cluster);
  switch (input.action) {
    case 'acquire':
      return { holder: await acquireLock(store, executions, input) };
    case 'renew':
      return { holder: await renewLock(store, input) };
    case 'preempt':
      return preemptLock(store, executions, input);
    case 'release':
      return releaseLock(store, input.cluster, input.owner);
    case 'read':
      return readLockState(store, executions, input.cluster);
  }
}
