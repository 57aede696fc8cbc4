import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { CLUSTER_TAG_KEY, type ClusterModel, ROLE_TAG_KEY, targetGroupOf } from './cluster-model';
import { NodeLostError } from './errors';

export const SURGE_ROLE = 'surge';
export const EXECUTION_TAG_KEY = 'zerodown:execution';

export interface NodeInstance {
  readonly instanceId: string;
  /** pending | running | shutting-down | terminated | stopping | stopped */
  readonly state: string;
  readonly privateIp?: string;
  readonly tags: Readonly<Record<string, string>>;
}

function toNode(instance: Instance): NodeInstance {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
    tags: Object.fromEntries((instance.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
  };
}

export async function describeInstances(ec2: EC2Client, instanceIds: readonly string[]): Promise<NodeInstance[]> {
  if (instanceIds.length === 0) return [];
  try {
    const response = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [...instanceIds] }));
    return (response.Reservations ?? []).flatMap((reservation) => (reservation.Instances ?? []).map(toNode));
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidInstanceID.NotFound') return [];
    throw error;
  }
}

/** The instance, which must still exist and not be on its way out. */
export async function describeLiveNode(ec2: EC2Client, instanceId: string): Promise<NodeInstance> {
  const [node] = await describeInstances(ec2, [instanceId]);
  if (!node || ['shutting-down', 'terminated'].includes(node.state)) {
    throw new NodeLostError(`Node ${instanceId} is ${node?.state ?? 'gone'}`);
  }
  return node;
}

/** Instances carrying the cluster's tag and the surge role, optionally of one execution. */
export async function findSurgeNodes(
  ec2: EC2Client,
  model: ClusterModel,
  options: { execution?: string; states?: readonly string[] } = {},
): Promise<NodeInstance[]> {
  const filters = [
    { Name: `tag:${CLUSTER_TAG_KEY}`, Values: [model.name] },
    { Name: `tag:${ROLE_TAG_KEY}`, Values: [SURGE_ROLE] },
    { Name: 'instance-state-name', Values: [...(options.states ?? ['pending', 'running'])] },
  ];
  if (options.execution) filters.push({ Name: `tag:${EXECUTION_TAG_KEY}`, Values: [options.execution] });
  const response = await ec2.send(new DescribeInstancesCommand({ Filters: filters }));
  return (response.Reservations ?? []).flatMap((reservation) => (reservation.Instances ?? []).map(toNode));
}

export function isSurgeNodeOf(model: ClusterModel, node: NodeInstance): boolean {
  return node.tags[CLUSTER_TAG_KEY] === model.name && node.tags[ROLE_TAG_KEY] === SURGE_ROLE;
}

/** The target group a node serves through: its slot's, the surge slot's, or the cluster's only one. */
export function targetGroupOfNode(model: ClusterModel, node: NodeInstance): string | undefined {
  const permanent = model.nodes.find((candidate) => candidate.instanceId === node.instanceId);
  if (permanent) return targetGroupOf(model, permanent);
  if (!isSurgeNodeOf(model, node)) return undefined;
  return model.traffic.strategy === 'weighted-target-groups'
    ? targetGroupOf(model, { slot: model.traffic.surgeSlot })
    : model.traffic.targetGroupArn;
}
