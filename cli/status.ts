import { alarmStates } from '../functions/aws/cloudwatch';
import { dynamoDbLockStore } from '../functions/aws/dynamodb';
import { describeInstances, findSurgeNodes } from '../functions/aws/ec2';
import { readClusterTargetHealth, readWeights } from '../functions/aws/elbv2';
import { loadClusterModel, parameterValue } from '../functions/aws/ssm';
import { targetGroupsOf } from '../functions/domain/cluster-model';
import { readLock } from '../functions/domain/lock';
import { lockTableParameterName } from '../functions/domain/membership';
import { nodeAlarmName } from '../functions/domain/recheck';
import { isWeighted, targetStateIn } from '../functions/domain/weights';
import { clusterStateMachines, recentExecutions } from './executions';
import type { Session } from './session';

/** A cluster as an operator sees it at a glance: its nodes, its traffic, failover's alarms, and what runs now. */
export interface ClusterStatus {
  readonly cluster: string;
  readonly region: string;
  readonly topology: string;
  readonly nodes: {
    readonly instanceId: string;
    readonly role: string;
    readonly slot?: string;
    readonly state: string;
    readonly privateIp?: string;
    readonly targetHealth: string;
    readonly weight?: number;
    readonly alarm?: string;
  }[];
  readonly weights: Record<string, number>;
  readonly surgeNodes: { readonly instanceId: string; readonly state: string }[];
  readonly lock: ClusterLockStatus;
  /** Executions running now; the maintenance workflow among them holds the cluster's lock. */
  readonly running: { readonly workflow: string; readonly executionArn: string; readonly startDate?: string }[];
}

/** The cluster lock: who holds its lease and until when. */
export type ClusterLockStatus =
  | { readonly state: 'free' }
  | {
      readonly state: 'held';
      readonly owner: string;
      readonly workflow: string;
      readonly acquiredAt: string;
      readonly expiresAt: string;
      /** A lease past its expiry, which the next workflow may take over. */
      readonly expired: boolean;
    }
  | { readonly state: 'unknown'; readonly reason: string };

/** Reads the lock from the table the stack names in its lock-table parameter. */
async function lockStatus(session: Session, cluster: string): Promise<ClusterLockStatus> {
  const parameter = lockTableParameterName(cluster);
  const tableName = await parameterValue(session.ssm, parameter);
  if (tableName === undefined) return { state: 'unknown', reason: `no parameter ${parameter}; redeploy the stack` };
  const holder = await readLock(dynamoDbLockStore({ dynamodb: session.dynamodb, tableName }), cluster);
  if (!holder) return { state: 'free' };
  return {
    state: 'held',
    owner: holder.owner,
    workflow: holder.workflow,
    acquiredAt: holder.acquiredAt,
    expiresAt: holder.expiresAt,
    expired: Date.parse(holder.expiresAt) <= Date.now(),
  };
}

function lockLine(lock: ClusterLockStatus): string {
  if (lock.state === 'free') return 'lock: free';
  if (lock.state === 'unknown') return `lock: unknown (${lock.reason})`;
  const lease = lock.expired ? `lease expired at ${lock.expiresAt}` : `lease until ${lock.expiresAt}`;
  return `lock: held by ${lock.workflow} ${lock.owner} since ${lock.acquiredAt}, ${lease}`;
}

export async function clusterStatus(session: Session, cluster: string): Promise<ClusterStatus> {
  const model = await loadClusterModel(session.ssm, cluster);
  const slots = model.nodes.flatMap((node) => (node.slot ? [node.slot] : []));
  const [instances, weights, health, alarms, surge, machines, lock] = await Promise.all([
    describeInstances(
      session.ec2,
      model.nodes.map((node) => node.instanceId),
    ),
    isWeighted(model) ? readWeights(session.elbv2, model) : Promise.resolve([]),
    readClusterTargetHealth(session.elbv2, model),
    alarmStates(
      session.cloudwatch,
      slots.map((slot) => nodeAlarmName(model.name, slot)),
    ),
    findSurgeNodes(session.ec2, model),
    clusterStateMachines(session.sfn, model.name),
    lockStatus(session, model.name),
  ]);
  const running = await recentExecutions(session.sfn, machines, { status: 'RUNNING', perWorkflow: 5 });
  return {
    cluster: model.name,
    region: model.region,
    topology: model.topology,
    nodes: model.nodes.map((node) => {
      const instance = instances.find((candidate) => candidate.instanceId === node.instanceId);
      const target = targetStateIn(health, targetGroupsOf(model, node), node.instanceId);
      const alarm = node.slot
        ? alarms.find((candidate) => candidate.alarmName === nodeAlarmName(model.name, node.slot ?? ''))?.state
        : undefined;
      return {
        instanceId: node.instanceId,
        role: node.role,
        ...(node.slot ? { slot: node.slot } : {}),
        state: instance?.state ?? 'not-found',
        ...(instance?.privateIp ? { privateIp: instance.privateIp } : {}),
        targetHealth: target?.state ?? 'unregistered',
        ...(node.slot ? { weight: weights.find((entry) => entry.slot === node.slot)?.weight ?? 0 } : {}),
        ...(alarm ? { alarm } : {}),
      };
    }),
    weights: Object.fromEntries(weights.map((entry) => [entry.slot, entry.weight])),
    surgeNodes: surge.map((node) => ({ instanceId: node.instanceId, state: node.state })),
    lock,
    running: running.map((execution) => ({
      workflow: execution.workflow,
      executionArn: execution.executionArn ?? '',
      ...(execution.startDate ? { startDate: execution.startDate.toISOString() } : {}),
    })),
  };
}

export function statusLines(status: ClusterStatus): string[] {
  const table = status.nodes.map((node) => [
    node.instanceId,
    node.role,
    node.slot ?? '-',
    node.state,
    node.privateIp ?? '-',
    node.targetHealth,
    node.weight === undefined ? '-' : String(node.weight),
    node.alarm ?? '-',
  ]);
  const header = ['node', 'role', 'slot', 'state', 'address', 'target', 'weight', 'heartbeat alarm'];
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((row) => row[column]?.length ?? 0)));
  const format = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    `cluster ${status.cluster} (${status.topology}, ${status.region})`,
    format(header),
    ...table.map(format),
    `weights: ${
      Object.entries(status.weights)
        .map(([slot, weight]) => `${slot}=${weight}`)
        .join(' ') || '-'
    }`,
    `surge nodes: ${status.surgeNodes.map((node) => `${node.instanceId} (${node.state})`).join(', ') || 'none'}`,
    lockLine(status.lock),
    status.running.length === 0
      ? 'running: nothing'
      : `running: ${status.running.map((run) => `${run.workflow} ${run.executionArn}`).join(', ')}`,
  ];
}
