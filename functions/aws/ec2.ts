import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Filter,
  type Image,
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

export interface MachineImage {
  readonly imageId: string;
  readonly name: string;
  /** pending | available | invalid | deregistered | transient | failed | error | disabled */
  readonly state: string;
  /** Why the image is in its state, when EC2 says (a failed image's reason). */
  readonly stateReason?: string;
  readonly creationDate: string;
  readonly tags: Readonly<Record<string, string>>;
  /** The EBS snapshots behind the image's block devices. */
  readonly snapshotIds: readonly string[];
}

function toImage(image: Image): MachineImage {
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    ...(image.StateReason?.Message ? { stateReason: image.StateReason.Message } : {}),
    creationDate: image.CreationDate ?? '',
    tags: tagRecord(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((mapping) => mapping.Ebs?.SnapshotId ?? []),
  };
}

function tagRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

function tagList(tags: Readonly<Record<string, string>>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/** The same tags on an image and on its snapshots, set by the call that creates them. */
function tagsOnImage(tags: Readonly<Record<string, string>>): TagSpecification[] {
  return (['image', 'snapshot'] as const).map((ResourceType) => ({ ResourceType, Tags: tagList(tags) }));
}

/** An image by id, or undefined when there is none this account can see (a deregistered image is gone). */
export async function describeImage(ec2: EC2Client, imageId: string): Promise<MachineImage | undefined> {
  try {
    const response = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const image = response.Images?.find((candidate) => candidate.ImageId === imageId);
    return image ? toImage(image) : undefined;
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidAMIID.NotFound') return undefined;
    throw error;
  }
}

/** Images this account owns that match EC2 filters (tags, name, state), across every page of the answer. */
export async function findOwnImages(ec2: EC2Client, filters: Filter[]): Promise<MachineImage[]> {
  const images: MachineImage[] = [];
  let NextToken: string | undefined;
  do {
    const response = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: filters, NextToken }));
    images.push(...(response.Images ?? []).map(toImage));
    NextToken = response.NextToken;
  } while (NextToken);
  return images;
}

/**
 * Starts an image of an instance, with the tags on the image and its snapshots. The instance reboots so its file
 * systems are consistent, unless `noReboot`. Answers the new image's id; the image is pending for a while.
 */
export async function createImage(
  ec2: EC2Client,
  request: {
    instanceId: string;
    name: string;
    description: string;
    tags: Readonly<Record<string, string>>;
    noReboot?: boolean;
  },
): Promise<string> {
  const response = await ec2.send(
    new CreateImageCommand({
      InstanceId: request.instanceId,
      Name: request.name,
      Description: request.description,
      NoReboot: request.noReboot ?? false,
      TagSpecifications: tagsOnImage(request.tags),
    }),
  );
  return response.ImageId ?? '';
}

/**
 * Copies an image from `sourceRegion` into the region of `ec2`, with the tags on the copy and its snapshots.
 * `clientToken` makes a repeated call with the same token answer the copy the first one started.
 */
export async function copyImage(
  ec2: EC2Client,
  request: {
    sourceImageId: string;
    sourceRegion: string;
    name: string;
    description: string;
    tags: Readonly<Record<string, string>>;
    clientToken: string;
  },
): Promise<string> {
  const response = await ec2.send(
    new CopyImageCommand({
      SourceImageId: request.sourceImageId,
      SourceRegion: request.sourceRegion,
      Name: request.name,
      Description: request.description,
      ClientToken: request.clientToken,
      TagSpecifications: tagsOnImage(request.tags),
    }),
  );
  return response.ImageId ?? '';
}

/** Sets tags on an image. */
export async function tagImage(ec2: EC2Client, imageId: string, tags: Readonly<Record<string, string>>) {
  await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: tagList(tags) }));
}

/**
 * Deregisters an image and deletes its EBS snapshots, which would otherwise be kept (and billed) for ever. EC2 deletes
 * them with the image where it can; any it did not are deleted one by one. An image or snapshot already gone is not an
 * error. Answers the image's snapshots, all gone.
 */
export async function deregisterImage(ec2: EC2Client, image: Pick<MachineImage, 'imageId' | 'snapshotIds'>) {
  let response: { DeleteSnapshotResults?: { SnapshotId?: string; ReturnCode?: string }[] } = {};
  try {
    response = await ec2.send(new DeregisterImageCommand({ ImageId: image.imageId, DeleteAssociatedSnapshots: true }));
  } catch (error) {
    // Deregistered by an earlier attempt: its snapshots may still be there.
    if (!(error instanceof Error && ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes(error.name))) {
      throw error;
    }
  }
  const deletedWithImage = new Set(
    (response.DeleteSnapshotResults ?? [])
      .filter((result) => result.ReturnCode === 'success')
      .flatMap((result) => result.SnapshotId ?? []),
  );
  for (const snapshotId of image.snapshotIds) {
    if (!deletedWithImage.has(snapshotId)) await deleteSnapshot(ec2, snapshotId);
  }
  return { snapshotIds: [...image.snapshotIds] };
}

async function deleteSnapshot(ec2: EC2Client, snapshotId: string): Promise<void> {
  try {
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidSnapshot.NotFound') return;
    throw error;
  }
}
