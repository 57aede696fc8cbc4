import { createHash } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import {
  copyImage,
  createImage,
  deregisterImage,
  describeImage,
  describeInstances,
  findOwnImages,
  isSurgeNodeOf,
  type MachineImage,
  tagImage,
} from '../aws/ec2';
import { parameterValue, putParameterValue } from '../aws/ssm';
import { bakesImages, type ClusterModel, DEFAULT_BAKE_TIMEOUT_SECONDS } from '../domain/cluster-model';
import { ConfigurationError, ImageBakeFailedError, NodeLostError } from '../domain/errors';
import {
  bakedImageTags,
  copiedImageTags,
  DEFAULT_RETAINED_IMAGES,
  imageFailed,
  imageNameFor,
  imagesToDeregister,
  isBakedImageOf,
} from '../domain/images';
import { pollsWithin } from '../domain/plans/duration';
import {
  BAKED_FROM_TAG_KEY,
  CLUSTER_TAG_KEY,
  EXECUTION_TAG_KEY,
  PREVIOUS_IMAGE_TAG_KEY,
  SOURCE_IMAGE_TAG_KEY,
} from '../domain/tags';

/** EC2 and SSM clients by region: baking works in the cluster's region and copies to its DR region. */
export interface ImageClients {
  readonly ec2: (region: string) => EC2Client;
  readonly ssm: (region: string) => SSMClient;
}

export type BakeImageRequest =
  | { action: 'create'; instanceId: string; version: string; execution: string; pollIntervalSeconds: number }
  | { action: 'status'; imageId: string; region?: string | undefined }
  | { action: 'copy'; imageId: string }
  | { action: 'publish'; imageId: string; drImageId: string | null };

export interface BakeStarted {
  readonly imageId: string;
  readonly name: string;
  /** pending right after the bake starts; what EC2 reports for an image an earlier attempt started. */
  readonly state: string;
  /** The image an earlier attempt of the same execution started. */
  readonly reused: boolean;
  /** How many status polls the model's bake timeout allows, for the image and for its copy. */
  readonly maxPolls: number;
}

export interface ImageStatus {
  readonly imageId: string;
  readonly region: string;
  readonly state: string;
  readonly available: boolean;
}

export interface ImageCopy {
  /** The copy in the DR region; null when the cluster has no DR region. */
  readonly drImageId: string | null;
  readonly region: string | null;
}

export interface DeregisteredImage {
  readonly imageId: string;
  readonly region: string;
  readonly snapshotIds: readonly string[];
}

export interface PublishedImage {
  readonly imageParameter: string;
  readonly imageId: string;
  /** What the parameter held before, kept for a rollback; null when it held no image id. */
  readonly previousImageId: string | null;
  readonly drImageParameter: string | null;
  readonly drImageId: string | null;
  readonly previousDrImageId: string | null;
  /** The cluster's baked images beyond its retention, deregistered with their snapshots, in both regions. */
  readonly deregistered: DeregisteredImage[];
}

/** What an image parameter held before zerodown first wrote it, as recorded in the PREVIOUS_IMAGE_TAG_KEY tag. */
const NO_PREVIOUS_IMAGE = 'none';
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;

/** Runs one step of a bake: each is idempotent, and the workflow sequences them. */
export async function bakeImage(
  clients: ImageClients,
  model: ClusterModel,
  request: BakeImageRequest,
): Promise<BakeStarted | ImageStatus | ImageCopy | PublishedImage> {
  switch (request.action) {
    case 'create':
      return startImageBake(clients.ec2(model.region), model, request);
    case 'status':
      return imageBakeStatus(clients, model, request);
    case 'copy':
      return copyImageToDr(clients, model, request);
    case 'publish':
      return publishImage(clients, model, request);
  }
}

/**
 * Starts baking an image of a node of the cluster (a permanent node or its surge node) that carries no traffic: the
 * node reboots, so the image's file systems are consistent. The image and its snapshots are tagged with the cluster,
 * the version, the execution and the node. Idempotent: a retry finds the image the execution already started, by its
 * tags or its name, and never starts a second one. Any other instance is refused with `ImageBakeFailedError` before
 * anything is created.
 */
export async function startImageBake(
  ec2: EC2Client,
  model: ClusterModel,
  request: { instanceId: string; version: string; execution: string; pollIntervalSeconds: number },
): Promise<BakeStarted> {
  imageParametersOf(model);
  const maxPolls = pollsWithin(
    model.images?.bakeTimeoutSeconds ?? DEFAULT_BAKE_TIMEOUT_SECONDS,
    request.pollIntervalSeconds,
  );
  const name = imageNameFor(model.name, request.version, request.execution, digestOf(request.execution));
  const existing = await findBakeOf(ec2, model, request.execution, name);
  if (existing) return { ...reusedBake(model, existing, request.instanceId), maxPolls };

  await assertBakeableNode(ec2, model, request.instanceId);
  try {
    const imageId = await createImage(ec2, {
      instanceId: request.instanceId,
      name,
      description: `zerodown: ${model.name} ${request.version}, baked from ${request.instanceId}`.slice(0, 255),
      tags: bakedImageTags({ cluster: model.name, ...request }),
      noReboot: false,
    });
    return { imageId, name, state: 'pending', reused: false, maxPolls };
  } catch (error) {
    // An earlier attempt created the image, but it was not found yet: EC2's answers are eventually consistent.
    if (error instanceof Error && error.name === 'InvalidAMIName.Duplicate') {
      const raced = await findBakeOf(ec2, model, request.execution, name);
      if (raced) return { ...reusedBake(model, raced, request.instanceId), maxPolls };
    }
    throw error;
  }
}

/**
 * Where an image stands, in the cluster's region or its DR region; the workflow polls this until it is available. An
 * image that failed (or is gone) fails with `ImageBakeFailedError`.
 */
export async function imageBakeStatus(
  clients: ImageClients,
  model: ClusterModel,
  request: { imageId: string; region?: string | undefined },
): Promise<ImageStatus> {
  const region = request.region ?? model.region;
  if (region !== model.region && region !== model.dr?.region) {
    throw new ConfigurationError(
      `Region ${region} is not a region of cluster "${model.name}" (${[model.region, model.dr?.region].filter(Boolean).join(', ')})`,
    );
  }
  const image = await describeImage(clients.ec2(region), request.imageId);
  // EC2's answers are eventually consistent: an image just started may not be listed yet. The poll's own bound ends
  // the wait for one that never shows.
  if (!image) return { imageId: request.imageId, region, state: 'not listed yet', available: false };
  assertNotFailed(image, region);
  return { imageId: image.imageId, region, state: image.state, available: image.state === 'available' };
}

/**
 * Copies a baked image of the cluster to its DR region, tagged as the source is and with the source's id. Idempotent:
 * a copy already tagged with the source's id is answered instead of a second one. A cluster without a DR region has
 * nothing to copy to: `drImageId` is null.
 */
export async function copyImageToDr(
  clients: ImageClients,
  model: ClusterModel,
  request: { imageId: string },
): Promise<ImageCopy> {
  const { dr } = imageParametersOf(model);
  if (!dr) return { drImageId: null, region: null };
  const drEc2 = clients.ec2(dr.region);
  const existing = await findCopyOf(drEc2, model, request.imageId);
  if (existing) {
    assertNotFailed(existing, dr.region);
    return { drImageId: existing.imageId, region: dr.region };
  }

  const source = await describeImage(clients.ec2(model.region), request.imageId);
  if (!source || !isBakedImageOf(model.name, source.tags)) {
    throw new ImageBakeFailedError(
      `Refusing to copy ${request.imageId}: it is not an image zerodown baked for cluster "${model.name}" in ${model.region}`,
    );
  }
  assertNotFailed(source, model.region);
  if (source.state !== 'available') {
    throw new ImageBakeFailedError(
      `Image ${request.imageId} is ${source.state}; it can be copied to ${dr.region} once it is available`,
    );
  }
  try {
    const drImageId = await copyImage(drEc2, {
      sourceImageId: source.imageId,
      sourceRegion: model.region,
      name: source.name,
      description: `zerodown: ${model.name}, copy of ${source.imageId} from ${model.region}`,
      tags: copiedImageTags(source.tags, source.imageId),
      clientToken: `zerodown-copy-${source.imageId}`,
    });
    return { drImageId, region: dr.region };
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidAMIName.Duplicate') {
      const raced = await findCopyOf(drEc2, model, request.imageId);
      if (raced) return { drImageId: raced.imageId, region: dr.region };
    }
    throw error;
  }
}

/**
 * Points the image parameters at the baked image (`surge.imageParameter`) and its copy (`dr.imageParameter`, in the
 * DR region), so the next surge, replacement and DR nodes boot from them, and records what each held before. Then, in
 * each region, deregisters the cluster's baked images beyond `images.retain` with their snapshots: never the image
 * just published nor the one it replaced, and never an image zerodown did not bake. Both images are checked (the
 * cluster's bakes, available, the copy of the image) before any parameter is written. Idempotent: a retry after a
 * parameter was written answers the same previous image, which the published image's tag recorded.
 */
export async function publishImage(
  clients: ImageClients,
  model: ClusterModel,
  request: { imageId: string; drImageId: string | null },
): Promise<PublishedImage> {
  const parameters = imageParametersOf(model);
  if (parameters.dr && !request.drImageId) {
    throw new ImageBakeFailedError(
      `Cluster "${model.name}" has a DR region (${parameters.dr.region}): publishing needs the image's copy there`,
    );
  }
  if (!parameters.dr && request.drImageId) {
    throw new ImageBakeFailedError(`Cluster "${model.name}" has no DR region to publish ${request.drImageId} in`);
  }
  const ec2 = clients.ec2(model.region);
  const image = await publishableImage(ec2, model, request.imageId, model.region);
  const dr =
    parameters.dr && request.drImageId
      ? { ...parameters.dr, ec2: clients.ec2(parameters.dr.region), ssm: clients.ssm(parameters.dr.region) }
      : undefined;
  const drImage = dr ? await publishableImage(dr.ec2, model, request.drImageId ?? '', dr.region) : undefined;
  if (drImage && drImage.tags[SOURCE_IMAGE_TAG_KEY] !== image.imageId) {
    throw new ImageBakeFailedError(
      `Image ${drImage.imageId} in ${dr?.region} is not a copy of ${image.imageId} (its source is ${drImage.tags[SOURCE_IMAGE_TAG_KEY] ?? 'unknown'})`,
    );
  }

  const previousImageId = await pointParameter(clients.ssm(model.region), ec2, parameters.surge, image);
  const previousDrImageId = dr && drImage ? await pointParameter(dr.ssm, dr.ec2, dr.parameter, drImage) : null;

  const retain = model.images?.retain ?? DEFAULT_RETAINED_IMAGES;
  const deregistered = await pruneImages(ec2, model, model.region, retain, [image.imageId, previousImageId]);
  if (dr && drImage) {
    deregistered.push(...(await pruneImages(dr.ec2, model, dr.region, retain, [drImage.imageId, previousDrImageId])));
  }
  return {
    imageParameter: parameters.surge,
    imageId: image.imageId,
    previousImageId,
    drImageParameter: dr?.parameter ?? null,
    drImageId: drImage?.imageId ?? null,
    previousDrImageId,
    deregistered,
  };
}

/** The parameters a bake publishes to; a cluster that does not bake images is refused. */
function imageParametersOf(model: ClusterModel): { surge: string; dr?: { region: string; parameter: string } } {
  const surge = model.surge.imageParameter;
  if (!bakesImages(model) || !surge || (model.dr && !model.dr.imageParameter)) {
    throw new ConfigurationError(
      `Cluster "${model.name}" does not bake images: baking needs images.bake (on by default) and surge.imageParameter${model.dr ? ' and dr.imageParameter' : ''}`,
    );
  }
  return {
    surge,
    ...(model.dr?.imageParameter ? { dr: { region: model.dr.region, parameter: model.dr.imageParameter } } : {}),
  };
}

function digestOf(execution: string): string {
  return createHash('sha256').update(execution).digest('hex').slice(0, 8);
}

/** The image the execution baked: found by its tags, or else by its name, which an earlier zerodown may have set alone. */
async function findBakeOf(
  ec2: EC2Client,
  model: ClusterModel,
  execution: string,
  name: string,
): Promise<MachineImage | undefined> {
  const tagged = await findOwnImages(ec2, [
    { Name: `tag:${CLUSTER_TAG_KEY}`, Values: [model.name] },
    { Name: `tag:${EXECUTION_TAG_KEY}`, Values: [execution] },
    { Name: 'tag-key', Values: [BAKED_FROM_TAG_KEY] },
  ]);
  const bake = newest(tagged.filter((image) => isBakedImageOf(model.name, image.tags)));
  if (bake) return bake;
  const [named] = await findOwnImages(ec2, [{ Name: 'name', Values: [name] }]);
  if (named && !isBakedImageOf(model.name, named.tags)) {
    throw new ImageBakeFailedError(
      `An image named ${name} (${named.imageId}) already exists, but it is not tagged as baked for cluster "${model.name}"`,
    );
  }
  return named;
}

function reusedBake(model: ClusterModel, image: MachineImage, instanceId: string): Omit<BakeStarted, 'maxPolls'> {
  const bakedFrom = image.tags[BAKED_FROM_TAG_KEY];
  if (bakedFrom !== instanceId) {
    throw new ImageBakeFailedError(
      `This execution already baked ${image.imageId} for cluster "${model.name}" from ${bakedFrom}, not from ${instanceId}`,
    );
  }
  assertNotFailed(image, model.region);
  return { imageId: image.imageId, name: image.name, state: image.state, reused: true };
}

/** Only a permanent node of the cluster or its surge node may be baked, and it must still be there. */
async function assertBakeableNode(ec2: EC2Client, model: ClusterModel, instanceId: string): Promise<void> {
  const isPermanent = model.nodes.some((node) => node.instanceId === instanceId);
  const [node] = await describeInstances(ec2, [instanceId]);
  if (!isPermanent && !(node && isSurgeNodeOf(model, node))) {
    throw new ImageBakeFailedError(
      `Refusing to bake an image of ${instanceId}: it is not a node of cluster "${model.name}" (neither a permanent node nor its surge node)`,
    );
  }
  if (!node || ['shutting-down', 'terminated'].includes(node.state)) {
    throw new NodeLostError(`Node ${instanceId} is ${node?.state ?? 'gone'}; no image was baked from it`);
  }
}

async function findCopyOf(ec2: EC2Client, model: ClusterModel, sourceImageId: string) {
  const copies = await findOwnImages(ec2, [
    { Name: `tag:${CLUSTER_TAG_KEY}`, Values: [model.name] },
    { Name: `tag:${SOURCE_IMAGE_TAG_KEY}`, Values: [sourceImageId] },
  ]);
  return newest(copies.filter((image) => isBakedImageOf(model.name, image.tags)));
}

/** An image a parameter may name: baked for the cluster, and available. */
async function publishableImage(
  ec2: EC2Client,
  model: ClusterModel,
  imageId: string,
  region: string,
): Promise<MachineImage> {
  const image = await describeImage(ec2, imageId);
  if (!image || !isBakedImageOf(model.name, image.tags)) {
    throw new ImageBakeFailedError(
      `Refusing to publish ${imageId}: it is not an image zerodown baked for cluster "${model.name}" in ${region}`,
    );
  }
  assertNotFailed(image, region);
  if (image.state !== 'available') {
    throw new ImageBakeFailedError(
      `Image ${imageId} in ${region} is ${image.state}; it can be published once available`,
    );
  }
  return image;
}

/**
 * Sets the parameter to the image and answers what it held before. The previous value is recorded on the image
 * first, so a retry that finds the parameter already set answers the same one.
 */
async function pointParameter(
  ssm: SSMClient,
  ec2: EC2Client,
  parameter: string,
  image: MachineImage,
): Promise<string | null> {
  const current = await parameterValue(ssm, parameter);
  if (current === image.imageId) {
    const recorded = image.tags[PREVIOUS_IMAGE_TAG_KEY];
    return recorded && recorded !== NO_PREVIOUS_IMAGE ? recorded : null;
  }
  const previous = current !== undefined && AMI_ID.test(current) ? current : null;
  await tagImage(ec2, image.imageId, { [PREVIOUS_IMAGE_TAG_KEY]: previous ?? NO_PREVIOUS_IMAGE });
  await putParameterValue(ssm, parameter, image.imageId);
  return previous;
}

/** Deregisters the cluster's baked images in one region beyond the retention, never those in `keep`. */
async function pruneImages(
  ec2: EC2Client,
  model: ClusterModel,
  region: string,
  retain: number,
  keep: readonly (string | null)[],
): Promise<DeregisteredImage[]> {
  const baked = (
    await findOwnImages(ec2, [
      { Name: `tag:${CLUSTER_TAG_KEY}`, Values: [model.name] },
      { Name: 'tag-key', Values: [BAKED_FROM_TAG_KEY] },
    ])
  ).filter((image) => isBakedImageOf(model.name, image.tags));
  const doomed = new Set(imagesToDeregister(baked, retain, keep).map((image) => image.imageId));
  const deregistered: DeregisteredImage[] = [];
  for (const image of baked.filter((candidate) => doomed.has(candidate.imageId))) {
    const { snapshotIds } = await deregisterImage(ec2, image);
    deregistered.push({ imageId: image.imageId, region, snapshotIds });
  }
  return deregistered;
}

function assertNotFailed(image: MachineImage, region: string): void {
  if (imageFailed(image.state)) {
    throw new ImageBakeFailedError(
      `Image ${image.imageId} in ${region} is ${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}`,
    );
  }
}

function newest(images: readonly MachineImage[]): MachineImage | undefined {
  return [...images].sort((a, b) => b.creationDate.localeCompare(a.creationDate))[0];
}
