import * as z from 'zod/mini';
import { dynamodbClient } from './aws/clients/dynamodb';
import { sfnClient } from './aws/clients/sfn';
import { dynamoDbLockStore } from './aws/dynamodb';
import { observedHandler } from './aws/observability';
import { stepFunctionsExecutions } from './aws/sfn';
import { requireEnv } from './domain/errors';
import { clusterInput, executionArnInput, parseInput, recoverRequestSchema } from './domain/input';
import {
  acquireLock,
  claimForRecovery,
  leftToMaintenance,
  migratedToAfterTakeover,
  outOfServiceAfterTakeover,
  preemptLock,
  readLockState,
  recoveryTargetOf,
  releaseLock,
  renewLock,
} from './domain/lock';
import { assertOwnCluster } from './domain/own-cluster';

const store = dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: requireEnv('LOCK_TABLE_NAME') });
const executions = stepFunctionsExecutions(sfnClient);

const lease = {
  ...clusterInput,
  owner: executionArnInput,
  workflow: z.string().check(z.regex(/^[a-z][a-z-]{2,40}$/, 'must be a workflow name such as patch-server')),
  leaseSeconds: z._default(z.int().check(z.minimum(60), z.maximum(86_400)), 3_600),
};
const weights = z.record(
  z.string().check(z.minLength(1), z.maxLength(64)),
  z.number().check(z.minimum(0), z.maximum(999)),
);
/** What the workflow knows to be safe at this point; see RecoveryRecord. */
const recovery = z.strictObject({
  weights: z.optional(weights),
  baselineServing: z.optional(z.int().check(z.minimum(0))),
  outOfService: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(64)))),
  migratedTo: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(128)))),
  sync: z.optional(
    z.strictObject({
      paused: z.boolean(),
      changed: z.boolean(),
      instanceId: z.optional(z.string()),
      resume: z.optional(z.strictObject({ kind: z.string(), input: z.optional(z.string()) })),
    }),
  ),
});
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('acquire'), ...lease }),
  // The fence before every mutating step: renews the lease if this execution still holds it, and fails otherwise.
  z.strictObject({ action: z.literal('renew'), ...lease, recovery: z.optional(recovery) }),
  z.strictObject({
    action: z.literal('recover'),
    ...lease,
    ended: recoverRequestSchema,
  }),
  z.strictObject({ action: z.literal('preempt'), ...lease }),
  z.strictObject({ action: z.literal('release'), ...clusterInput, owner: executionArnInput }),
  z.strictObject({
    action: z.literal('read'),
    ...clusterInput,
    /** A lost node: the answer says whether the holder's own checks of it are still to come. */
    instanceId: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  }),
]);
export type ClusterLockInput = z.input<typeof inputSchema>;

/** Acquire, renew (the fence), release, pre-empt, read, or claim for recovery the cluster's lease. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'cluster-lock');
  assertOwnCluster(input.cluster);
  switch (input.action) {
    case 'acquire': {
      const holder = await acquireLock(store, executions, input);
      const target = recoveryTargetOf(holder);
      return { holder, ...(target ? { target } : {}) };
    }
    case 'renew':
      return { holder: await renewLock(store, input) };
    case 'recover': {
      const { execution, status } = input.ended;
      return claimForRecovery(store, executions, {
        ...input,
        ...(execution ? { execution } : {}),
        ...(status ? { status } : {}),
      });
    }
    case 'preempt': {
      const taken = await preemptLock(store, executions, input);
      return {
        ...taken,
        outOfService: outOfServiceAfterTakeover(taken.holder),
        migratedTo: migratedToAfterTakeover(taken.holder),
      };
    }
    case 'release':
      return releaseLock(store, input.cluster, input.owner);
    case 'read': {
      const state = await readLockState(store, executions, input.cluster);
      return { ...state, leaveToWorkflow: input.instanceId ? leftToMaintenance(state, input.instanceId) : false };
    }
  }
}

export const handler = observedHandler('cluster-lock', handle);
