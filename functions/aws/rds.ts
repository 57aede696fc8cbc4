import {
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotsCommand,
  type RDSClient,
  type Tag,
} from '@aws-sdk/client-rds';
import type { DatabaseEngine } from '../domain/database';

export interface SnapshotState {
  readonly snapshotId: string;
  readonly status: string;
}

const ALREADY_EXISTS = ['DBSnapshotAlreadyExistsFault', 'DBClusterSnapshotAlreadyExistsFault'];
const NOT_FOUND = ['DBSnapshotNotFoundFault', 'DBClusterSnapshotNotFoundFault'];

/**
 * Starts a manual snapshot of a DB instance or an Aurora cluster. A snapshot of that identifier that already exists
 * is returned as it stands: the identifier is the idempotency key.
 */
export async function createDatabaseSnapshot(
  rds: RDSClient,
  request: { engine: DatabaseEngine; database: string; snapshotId: string; tags: Readonly<Record<string, string>> },
): Promise<SnapshotState> {
  const tags: Tag[] = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
  try {
    if (request.engine === 'aurora-cluster') {
      const response = await rds.send(
        new CreateDBClusterSnapshotCommand({
          DBClusterIdentifier: request.database,
          DBClusterSnapshotIdentifier: request.snapshotId,
          Tags: tags,
        }),
      );
      return { snapshotId: request.snapshotId, status: response.DBClusterSnapshot?.Status ?? 'creating' };
    }
    const response = await rds.send(
      new CreateDBSnapshotCommand({
        DBInstanceIdentifier: request.database,
        DBSnapshotIdentifier: request.snapshotId,
        Tags: tags,
      }),
    );
    return { snapshotId: request.snapshotId, status: response.DBSnapshot?.Status ?? 'creating' };
  } catch (error) {
    if (!(error instanceof Error && ALREADY_EXISTS.includes(error.name))) throw error;
    const existing = await describeDatabaseSnapshot(rds, request.engine, request.snapshotId);
    if (!existing) throw error;
    return existing;
  }
}

/** The snapshot's state, or undefined when there is no such snapshot. */
export async function describeDatabaseSnapshot(
  rds: RDSClient,
  engine: DatabaseEngine,
  snapshotId: string,
): Promise<SnapshotState | undefined> {
  try {
    if (engine === 'aurora-cluster') {
      const response = await rds.send(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: snapshotId }),
      );
      const snapshot = response.DBClusterSnapshots?.[0];
      return snapshot ? { snapshotId, status: snapshot.Status ?? 'unknown' } : undefined;
    }
    const response = await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotId }));
    const snapshot = response.DBSnapshots?.[0];
    return snapshot ? { snapshotId, status: snapshot.Status ?? 'unknown' } : undefined;
  } catch (error) {
    if (error instanceof Error && NOT_FOUND.includes(error.name)) return undefined;
    throw error;
  }
}
