import * as fs from 'node:fs';
import { DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, type RDSClient } from '@aws-sdk/client-rds';
import { dynamodbClient } from '../functions/aws/clients/dynamodb';
import { ec2Client } from '../functions/aws/clients/ec2';
import { dynamoDbLockStore } from '../functions/aws/dynamodb';
import { findSurgeNodes } from '../functions/aws/ec2';
import { loadClusterModel } from '../functions/aws/ssm';
import type { ClusterModel } from '../functions/domain/cluster-model';
import { readLock } from '../functions/domain/lock';
import { resourcesOfType } from '../local/template';
import type { SandboxCluster } from './cluster';
import type { DataPlane, TrafficResult } from './data-plane';
import type { SandboxEnvironment } from './environment';
import { STATUS_TIMEOUT_MS } from './fleet';
import type { NodeStatus } from './node/protocol';
import type { SandboxReport } from './report';

/**
 * The cluster as the run leaves it: each permanent node's version, services, weight and health, the shared database's
 * schema version, whether the lock is held, and the surge nodes left.
 */
export async function readFinalState(
  environment: SandboxEnvironment,
  cluster: SandboxCluster,
  plane: DataPlane,
  traffic: TrafficResult,
): Promise<SandboxReport['finalState']> {
  const [lockTable] = resourcesOfType(cluster.stack.template, 'AWS::DynamoDB::GlobalTable');
  const weights = new Map(traffic.weightChanges.at(-1)?.weights ?? []);
  // The model as it ends: a failover may have put a replacement node into a slot.
  const model = await loadClusterModel(environment.ssm, cluster.name);
  const targets = model.nodes.map((node) => ({ id: node.instanceId, port: environment.nodePort }));
  const health = await plane.call('targetStates', targets);
  const nodes = await Promise.all(
    model.nodes.map(async (node, index) => {
      const running = environment.fleet.nodes.get(node.instanceId);
      const status = running
        ? await fetch(`${running.url}/_control/status`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
            .then((answer) => (answer.ok ? (answer.json() as Promise<NodeStatus>) : undefined))
            .catch(() => undefined)
        : undefined;
      const arn = [...cluster.slotOf].find(([, slot]) => slot === node.slot)?.[0] ?? '';
      return {
        id: node.instanceId,
        role: node.role,
        version: status?.version ?? null,
        services: (status?.services ?? []).map((service) => `${service.service} ${service.artifact}`),
        weight: weights.get(arn) ?? 0,
        healthy: health[index] === 'healthy',
      };
    }),
  );
  const schemaVersion = (JSON.parse(fs.readFileSync(environment.databaseFile, 'utf8')) as { schemaVersion?: string })
    .schemaVersion;
  const lockTableName = lockTable?.[0];
  const lock = lockTableName
    ? await readLock(dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: lockTableName }), model.name).catch(
        () => undefined,
      )
    : undefined;
  const surgeNodes = await findSurgeNodes(ec2Client, model);
  return {
    nodes,
    schemaVersion: schemaVersion ?? null,
    database: await readDatabase(environment.rds, model.database),
    lockHeld: lock !== undefined,
    surgeNodes: surgeNodes.length,
  };
}

/**
 * The model's database and its manual snapshots, as moto holds them, whatever a workflow's output says: moto starts
 * empty with each run, so the run took every one (the automated snapshot moto makes of a new instance is left out).
 */
async function readDatabase(
  rds: RDSClient,
  database: ClusterModel['database'],
): Promise<SandboxReport['finalState']['database']> {
  if (!database) return null;
  const snapshots = await manualSnapshotsOf(rds, database);
  return {
    engine: database.engine,
    identifier: database.identifier,
    snapshots: snapshots.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '')),
  };
}

type SnapshotReport = NonNullable<SandboxReport['finalState']['database']>['snapshots'][number];

async function manualSnapshotsOf(
  rds: RDSClient,
  { engine, identifier }: NonNullable<ClusterModel['database']>,
): Promise<SnapshotReport[]> {
  const describe = (id: string | undefined, status: string | undefined, type: string | undefined, at?: Date) =>
    type === 'manual' ? [{ id: id ?? '', status: status ?? 'unknown', createdAt: at?.toISOString() ?? null }] : [];
  if (engine === 'aurora-cluster') {
    const answer = await rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: identifier }));
    return (answer.DBClusterSnapshots ?? []).flatMap((snapshot) =>
      describe(
        snapshot.DBClusterSnapshotIdentifier,
        snapshot.Status,
        snapshot.SnapshotType,
        snapshot.SnapshotCreateTime,
      ),
    );
  }
  const answer = await rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: identifier }));
  return (answer.DBSnapshots ?? []).flatMap((snapshot) =>
    describe(snapshot.DBSnapshotIdentifier, snapshot.Status, snapshot.SnapshotType, snapshot.SnapshotCreateTime),
  );
}
