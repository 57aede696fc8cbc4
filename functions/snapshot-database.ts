import * as z from 'zod/mini';
import { rdsClient } from './aws/clients/rds';
import { observedHandler } from './aws/observability';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { databaseSnapshotStatus, startDatabaseSnapshot } from './operations/snapshot-database';

const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({
    ...clusterInput,
    action: z.literal('start'),
    execution: executionArnInput,
    /** The version the nodes ran before the upgrade, kept as a tag on the snapshot. */
    fromVersion: z.nullable(z.string().check(z.maxLength(64))),
    /** How often the workflow polls: the start answers how many polls the snapshot's timeout allows. */
    pollIntervalSeconds: z.int().check(z.minimum(1), z.maximum(3600)),
  }),
  z.strictObject({ ...clusterInput, action: z.literal('status'), execution: executionArnInput }),
]);

/** Starts the snapshot of the cluster's database that an upgrade takes before its migrations, or reports on it. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'snapshot-database');
  const model = await clusterModelFor(input.cluster);
  if (input.action === 'start') return startDatabaseSnapshot(rdsClient, model, input);
  return databaseSnapshotStatus(rdsClient, model, input);
}

export const handler = observedHandler('snapshot-database', handle);
