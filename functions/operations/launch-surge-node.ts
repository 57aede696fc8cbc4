import {
  type _InstanceType,
  type EC2Client,
  RunInstancesCommand,
  type TagSpecification,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { CLUSTER_TAG_KEY, type ClusterModel, ROLE_TAG_KEY } from './cluster-model';
import { CapacityGuardError, NotASurgeNodeError } from './errors';
import { clientTokenFor, imageIdFor, tagsOnLaunch } from './launch';
import {
  describeInstances,
  EXECUTION_TAG_KEY,
  findSurgeNodes,
  isSurgeNodeOf,
  type NodeInstance,
  SURGE_ROLE,
  targetGroupOfNode,
} from './nodes';
import { shiftTraffic } from './shift-traffic';
import { isWeighted, readTargetHealth, readWeights } from './traffic';

export interface LaunchedNode {
  readonly instanceId: string;
  readonly state: string;
  readonly privateIp?: string;
  /** True when a retry found the node an earlier attempt launched. */
  readonly reused: boolean;
  readonly targetGroupArn?: string;
}

/** The ClientToken of an execution's surge launch. */
export function launchClientToken(execution: string): string {
  return clientTokenFor(`${execution}#surge`);
}

function tagSpecifications(model: ClusterModel, execution: string): TagSpecification[] {
  const tags = [
    ...Object.entries(model.surge.tags).map(([Key, Value]) => ({ Key, Value })),
    { Key: CLUSTER_TAG_KEY, Value: model.name },
    { Key: ROLE_TAG_KEY, Value: SURGE_ROLE },
    { Key: EXECUTION_TAG_KEY, Value: execution.slice(0, 256) },
    { Key: 'Name', Value: `${model.name}-surge` },
  ];
  return tagsOnLaunch(tags);
}

/**
 * Launches the execution's surge node from the cluster's launch template and AMI, tagged with the cluster, the
 * surge role and the execution, and registers it in the surge slot with weight 0. A retry finds the node by its
 * execution tag (and passes the same ClientToken), so it never launches a second one.
 */
export async function launchSurgeNode(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient },
  model: ClusterModel,
  execution: string,
): Promise<LaunchedNode> {
  const [existing] = await findSurgeNodes(clients.ec2, model, { execution: execution.slice(0, 256) });
  let node: NodeInstance;
  let reused = true;
  if (existing) {
    node = existing;
  } else {
    reused = false;
    const imageId = await imageIdFor(clients.ssm, model.surge);
    const response = await clients.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: {
          LaunchTemplateId: model.surge.launchTemplateId,
          Version: model.surge.launchTemplateVersion,
        },
        ...(imageId ? { ImageId: imageId } : {}),
        ...(model.surge.instanceType ? { InstanceType: model.surge.instanceType as _InstanceType } : {}),
        SubnetId: model.surge.subnetIds[0],
        ClientToken: launchClientToken(execution),
        TagSpecifications: tagSpecifications(model, execution),
      }),
    );
    const instance = response.Instances?.[0];
    node = {
      instanceId: instance?.InstanceId ?? '',
      state: instance?.State?.Name ?? 'pending',
      ...(instance?.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
      tags: {},
    };
  }

  // In the weighted strategy the surge slot is its own target group: registering there sends it nothing until
  // the slot's weight rises. In the single target group, registering would send traffic, so that waits for a shift.
  const targetGroupArn = isWeighted(model) ? targetGroupOfNode(model, { ...node, tags: surgeTags(model) }) : undefined;
  if (targetGroupArn) {
    await clients.elbv2.send(
      new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: node.instanceId }] }),
    );
  }
  return {
    instanceId: node.instanceId,
    state: node.state,
    ...(node.privateIp ? { privateIp: node.privateIp } : {}),
    reused,
    ...(targetGroupArn ? { targetGroupArn } : {}),
  };
}

function surgeTags(model: ClusterModel): Record<string, string> {
  return { [CLUSTER_TAG_KEY]: model.name, [ROLE_TAG_KEY]: SURGE_ROLE };
}

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
        const response = await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
        return result(response.TerminatingInstances?.[0]?.CurrentState?.Name ?? 'shutting-down');
      }
      return result(node.state);
    case 'status':
      return result(node.state);
  }
}

async function deregisterSurgeNode(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  node: NodeInstance,
): Promise<number> {
  if (!isWeighted(model)) {
    // In the single target group the surge node serves, so taking it out is a traffic change and is guarded.
    return (await shiftTraffic(elbv2, model, { deregister: [node.instanceId] })).drainSeconds;
  }
  const targetGroupArn = targetGroupOfNode(model, node);
  if (!targetGroupArn) return 0;
  const weight =
    (await readWeights(elbv2, model)).find((entry) => entry.targetGroupArn === targetGroupArn)?.weight ?? 0;
  if (weight > 0) {
    throw new CapacityGuardError(
      `Refusing to deregister surge node ${node.instanceId}: its slot still has weight ${weight}; shift traffic away first`,
    );
  }
  const registered = (await readTargetHealth(elbv2, targetGroupArn)).some(
    (target) => target.instanceId === node.instanceId && target.state !== 'draining',
  );
  if (!registered) return 0;
  await elbv2.send(
    new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: node.instanceId }] }),
  );
  return model.capacity.drainSeconds;
}
