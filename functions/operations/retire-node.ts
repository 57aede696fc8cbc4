import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  describeInstances,
  findSurgeNodes,
  isSurgeNodeOf,
  type NodeInstance,
  targetGroupsOfNode,
  terminateInstances,
} from '../aws/ec2';
import { deregisterIfRegistered, readWeights } from '../aws/elbv2';
import type { ClusterModel } from '../domain/cluster-model';
import { CapacityGuardError, NotASurgeNodeError } from '../domain/errors';
import { isWeighted } from '../domain/weights';
import { shiftTraffic } from './shift-traffic';

export type RetireAction = 'deregister' | 'terminate' | 'status';

export interface RetireResult {
  readonly instanceId: string;
  readonly action: RetireAction;
  readonly state: string;
  readonly terminated: boolean;
  /** After deregistering: how long in-flight requests may still drain. */
  readonly drainSeconds: number;
}

/**
 * Retires a surge node in three idempotent steps the workflow sequences: deregister (refused while the node still
 * has traffic), terminate, and status (polled until terminated). Only surge nodes of this cluster qualify:
 * anything else is refused with `NotASurgeNodeError` before any call that changes state.
 */
export async function retireSurgeNode(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: { instanceId: string; action: RetireAction },
): Promise<RetireResult> {
  const { instanceId, action } = request;
  const isPermanent = model.nodes.some((node) => node.instanceId === instanceId);
  const [node] = await describeInstances(clients.ec2, [instanceId]);
  if (isPermanent || (node && !isSurgeNodeOf(model, node))) {
    throw new NotASurgeNodeError(
      `Refusing to retire ${instanceId}: it is ${isPermanent ? 'a permanent node' : 'not tagged as a surge node'} of cluster "${model.name}"`,
    );
  }
  const result = (state: string, drainSeconds = 0): RetireResult => ({
    instanceId,
    action,
    state,
    terminated: state === 'terminated',
    drainSeconds,
  });
  if (!node) return result('terminated');

  switch (action) {
    case 'deregister':
      return result(node.state, await deregisterSurgeNode(clients.elbv2, model, node));
    case 'terminate':
      if (!['shutting-down', 'terminated'].includes(node.state)) {
        const [terminating] = await terminateInstances(clients.ec2, [instanceId]);
        return result(terminating?.state ?? 'shutting-down');
      }
      return result(node.state);
    case 'status':
      return result(node.state);
  }
}

/**
 * The surge nodes `execution` launched that still exist, for a recovery to retire, but for those in `exclude` (a
 * migration still runs on them: terminated, it would stop half-way), which it answers as `leftRunning`.
 */
export async function findSurgeNodesOf(
  ec2: EC2Client,
  model: ClusterModel,
  execution: string,
  exclude: readonly string[] = [],
): Promise<{ instanceIds: string[]; leftRunning: string[] }> {
  const nodes = await findSurgeNodes(ec2, model, {
    execution,
    states: ['pending', 'running', 'stopping', 'stopped'],
  });
  const ids = nodes.map((node) => node.instanceId);
  return {
    instanceIds: ids.filter((id) => !exclude.includes(id)),
    leftRunning: ids.filter((id) => exclude.includes(id)),
  };
}

export async function deregisterSurgeNode(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  node: NodeInstance,
): Promise<number> {
  if (!isWeighted(model)) {
    // In the single target group the surge node serves, so taking it out is a traffic change and is guarded.
    return (await shiftTraffic(elbv2, model, { deregister: [node.instanceId] })).drainSeconds;
  }
  const [targetGroupArn, ...others] = targetGroupsOfNode(model, node);
  if (!targetGroupArn) return 0;
  const weight =
    (await readWeights(elbv2, model)).find((entry) => entry.targetGroupArn === targetGroupArn)?.weight ?? 0;
  if (weight > 0) {
    throw new CapacityGuardError(
      `Refusing to deregister surge node ${node.instanceId}: its slot still has weight ${weight}; shift traffic away first`,
    );
  }
  const deregistered = await deregisterIfRegistered(elbv2, [targetGroupArn, ...others], node.instanceId);
  return deregistered ? model.capacity.drainSeconds : 0;
}
