import type { ClusterModel } from './cluster-model';

export type DatabaseEngine = NonNullable<ClusterModel['database']>['engine'];

/** An RDS snapshot identifier: letters, digits and single hyphens, starting with a letter, at most 255 characters. */
const MAX_SNAPSHOT_ID = 255;

/**
 * The snapshot an execution takes before its migrations: named after the cluster and the execution, so that a retried
 * step finds the snapshot it started instead of taking a second one, and an operator can tell which run took it.
 * `digest` is a short hash of the whole execution ARN: execution names of two state machines may sanitize alike.
 */
export function snapshotIdentifierFor(cluster: string, executionArn: string, digest: string): string {
  const executionName = executionArn.split(':').at(-1) ?? executionArn;
  const readable = `${snapshotPrefixFor(cluster)}${executionName.replace(/[^a-zA-Z0-9]+/g, '-')}`
    .replace(/-+$/, '')
    .slice(0, MAX_SNAPSHOT_ID - digest.length - 1)
    .replace(/-+$/, '');
  return `${readable}-${digest}`;
}

/** How every snapshot of the cluster's starts: what its IAM policy allows to create. */
export function snapshotPrefixFor(cluster: string): string {
  return `zerodown-${cluster.replace(/[^a-zA-Z0-9]+/g, '-')}-`;
}

/** What a workflow records about the snapshot it took: enough to restore from it without looking it up. */
export interface DatabaseSnapshot {
  readonly engine: DatabaseEngine;
  /** The DB instance or Aurora cluster the snapshot is of. */
  readonly database: string;
  readonly snapshotId: string;
  /** creating | available | ... as RDS reports it. */
  readonly status: string;
  readonly available: boolean;
  /** The console-free way back, in one line. */
  readonly restoreWith: string;
}

export function restoreCommandFor(engine: DatabaseEngine, database: string, snapshotId: string): string {
  return engine === 'aurora-cluster'
    ? `aws rds restore-db-cluster-from-snapshot --snapshot-identifier ${snapshotId} --db-cluster-identifier ${database}-restored --engine <engine>`
    : `aws rds restore-db-instance-from-db-snapshot --db-snapshot-identifier ${snapshotId} --db-instance-identifier ${database}-restored`;
}
