import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Tag,
  type TagSpecification,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type ClusterModel, targetGroupsOf } from '../domain/cluster-model';
import { NodeLostError } from '../domain/errors';
import { CLUSTER_TAG_KEY, EXECUTION_TAG_KEY, ROLE_TAG_KEY, SURGE_ROLE } from '../domain/tags';

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

/** The target group a node serves through behind the cluster's listener: its slot's, the surge slot's, or the only one. */
export function targetGroupOfNode(model: ClusterModel, node: NodeInstance): string | undefined {
  return targetGroupsOfNode(model, node)[0];
}

/** Every target group a node serves through, one per listener of the cluster; none for a node not of the cluster. */
export function targetGroupsOfNode(model: ClusterModel, node: NodeInstance): string[] {
  const permanent = model.nodes.find((candidate) => candidate.instanceId === node.instanceId);
  if (permanent) return targetGroupsOf(model, permanent);
  if (!isSurgeNodeOf(model, node)) return [];
  return model.traffic.strategy === 'weighted-target-groups'
    ? targetGroupsOf(model, { slot: model.traffic.surgeSlot })
    : [model.traffic.targetGroupArn];
}

/** The same tags on the instance, its volumes and its network interfaces, set by RunInstances itself. */
export function tagsOnLaunch(tags: Tag[]): TagSpecification[] {
  return (['instance', 'volume', 'network-interface'] as const).map((ResourceType) => ({ ResourceType, Tags: tags }));
}

/** Instances that match EC2 filters (tags, states), across every page of the answer. */
export async function findInstances(ec2: EC2Client, filters: Filter[]): Promise<Instance[]> {
  const instances: Instance[] = [];
  let NextToken: string | undefined;
  do {
    const response = await ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken }));
    for (const reservation of response.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    NextToken = response.NextToken;
  } while (NextToken);
  return instances;
}

/** Launches instances as the caller describes them (a surge node, DR nodes); answers what EC2 started. */
export async function launchInstances(ec2: EC2Client, input: RunInstancesCommandInput): Promise<Instance[]> {
  const response = await ec2.send(new RunInstancesCommand(input));
  return response.Instances ?? [];
}

/** Terminates instances; answers each one's state as EC2 reports it right after the call. */
export async function terminateInstances(
  ec2: EC2Client,
  instanceIds: readonly string[],
): Promise<{ instanceId: string; state: string }[]> {
  if (instanceIds.length === 0) return [];
  const response = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [...instanceIds] }));
  return (response.TerminatingInstances ?? []).map((instance) => ({
    instanceId: instance.InstanceId ?? '',
    state: instance.CurrentState?.Name ?? 'shutting-down',
  }));
}

/** Sets tags on an instance. False when the instance no longer exists, which needs no label. */
export async function tagInstance(ec2: EC2Client, instanceId: string, tags: Record<string, string>): Promise<boolean> {
  try {
    await ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId],
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name.startsWith('InvalidInstanceID')) return false;
    throw error;
  }
}
