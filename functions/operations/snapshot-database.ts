import { createHash } from 'node:crypto';
import type { RDSClient } from '@aws-sdk/client-rds';
import { createDatabaseSnapshot, describeDatabaseSnapshot, type SnapshotState } from '../aws/rds';
import type { ClusterModel } from '../domain/cluster-model';
import { type DatabaseSnapshot, restoreCommandFor, snapshotIdentifierFor } from '../domain/database';
import { DatabaseSnapshotFailedError } from '../domain/errors';
import { pollsWithin } from '../domain/plans/duration';
import { CLUSTER_TAG_KEY, EXECUTION_TAG_KEY, VERSION_TAG_KEY } from '../domain/tags';

/** Snapshot states from which it never becomes available. */
const FAILED_STATES = ['failed', 'incompatible-restore', 'deleted', 'deleting'];

function databaseOf(model: ClusterModel): NonNullable<ClusterModel['database']> {
  if (!model.database) {
    throw new DatabaseSnapshotFailedError(
      `Cluster "${model.name}" names no database to snapshot (model field database)`,
    );
  }
  return model.database;
}

function snapshotIdFor(model: ClusterModel, execution: string): string {
  const digest = createHash('sha256').update(execution).digest('hex').slice(0, 8);
  return snapshotIdentifierFor(model.name, execution, digest);
}

function recordOf(model: ClusterModel, state: SnapshotState): DatabaseSnapshot {
  const database = databaseOf(model);
  if (FAILED_STATES.includes(state.status)) {
    throw new DatabaseSnapshotFailedError(
      `Snapshot ${state.snapshotId} of ${database.identifier} is ${state.status}; no migration ran`,
    );
  }
  return {
    engine: database.engine,
    database: database.identifier,
    snapshotId: state.snapshotId,
    status: state.status,
    available: state.status === 'available',
    restoreWith: restoreCommandFor(database.engine, database.identifier, state.snapshotId),
  };
}

/**
 * Starts the snapshot an upgrade takes before its migrations, named after the execution and tagged with the cluster,
 * the execution and the version the cluster ran. Idempotent: a retry finds the snapshot it started.
 */
export async function startDatabaseSnapshot(
  rds: RDSClient,
  model: ClusterModel,
  request: { execution: string; fromVersion: string | null; pollIntervalSeconds: number },
): Promise<DatabaseSnapshot & { maxPolls: number }> {
  const database = databaseOf(model);
  const snapshotId = snapshotIdFor(model, request.execution);
  const existing = await describeDatabaseSnapshot(rds, database.engine, snapshotId);
  const state =
    existing ??
    (await createDatabaseSnapshot(rds, {
      engine: database.engine,
      database: database.identifier,
      snapshotId,
      tags: {
        [CLUSTER_TAG_KEY]: model.name,
        [EXECUTION_TAG_KEY]: request.execution,
        ...(request.fromVersion ? { [VERSION_TAG_KEY]: request.fromVersion } : {}),
      },
    }));
  return {
    ...recordOf(model, state),
    maxPolls: pollsWithin(database.snapshotTimeoutSeconds, request.pollIntervalSeconds),
  };
}

/** Where the execution's snapshot stands; the workflow polls this until it is available. */
export async function databaseSnapshotStatus(
  rds: RDSClient,
  model: ClusterModel,
  request: { execution: string },
): Promise<DatabaseSnapshot> {
  const database = databaseOf(model);
  const snapshotId = snapshotIdFor(model, request.execution);
  const state = await describeDatabaseSnapshot(rds, database.engine, snapshotId);
  if (!state) {
    throw new DatabaseSnapshotFailedError(`Snapshot ${snapshotId} of ${database.identifier} does not exist`);
  }
  return recordOf(model, state);
}
