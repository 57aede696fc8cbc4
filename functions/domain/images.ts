import { BAKED_FROM_TAG_KEY, CLUSTER_TAG_KEY, EXECUTION_TAG_KEY, SOURCE_IMAGE_TAG_KEY, VERSION_TAG_KEY } from './tags';

/** How many baked images a cluster keeps in each region when its model has no `images` block (the schema's default). */
export const DEFAULT_RETAINED_IMAGES = 3;

/** AMI names: 3 to 128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _ */
const MAX_IMAGE_NAME = 128;
const NOT_IN_IMAGE_NAMES = /[^A-Za-z0-9()[\] ./\-'@_]+/g;

/** Image states from which an image never becomes available. */
export const FAILED_IMAGE_STATES: readonly string[] = ['failed', 'invalid', 'deregistered', 'error'];

/** Whether an image in this state will never become available. */
export function imageFailed(state: string): boolean {
  return FAILED_IMAGE_STATES.includes(state);
}

/** How every image the cluster bakes is named: what its IAM policy and an operator can recognise. */
export function imageNamePrefixFor(cluster: string): string {
  return `zerodown-${cluster}-`;
}

/**
 * The image an execution bakes: named after the cluster, the version or patch id it carries and the execution, so a
 * retried step finds the image it started instead of baking a second one, and an operator can tell which run baked
 * it. `digest` is a short hash of the whole execution ARN: execution names of two state machines may be alike, and
 * AMI names must be unique in a region.
 */
export function imageNameFor(cluster: string, version: string, executionArn: string, digest: string): string {
  const executionName = executionArn.split(':').at(-1) ?? executionArn;
  const readable = `${imageNamePrefixFor(cluster)}${version}-${executionName}`
    .replace(NOT_IN_IMAGE_NAMES, '-')
    .slice(0, MAX_IMAGE_NAME - digest.length - 1)
    .replace(/-+$/, '');
  return `${readable}-${digest}`;
}

/** The tags of a baked image and its snapshots, from which zerodown (and IAM) tell the cluster's images apart. */
export function bakedImageTags(bake: {
  cluster: string;
  version: string;
  execution: string;
  instanceId: string;
}): Record<string, string> {
  return {
    [CLUSTER_TAG_KEY]: bake.cluster,
    [VERSION_TAG_KEY]: bake.version,
    [EXECUTION_TAG_KEY]: bake.execution,
    [BAKED_FROM_TAG_KEY]: bake.instanceId,
  };
}

/**
 * The tags of a baked image's copy in the DR region: the source's zerodown tags and the source image's id. Tags the
 * source carries for other reasons are not copied.
 */
export function copiedImageTags(sourceTags: Readonly<Record<string, string>>, sourceImageId: string) {
  const copied: Record<string, string> = {};
  for (const key of [CLUSTER_TAG_KEY, VERSION_TAG_KEY, EXECUTION_TAG_KEY, BAKED_FROM_TAG_KEY]) {
    const value = sourceTags[key];
    if (value !== undefined) copied[key] = value;
  }
  return { ...copied, [SOURCE_IMAGE_TAG_KEY]: sourceImageId };
}

/** Whether an image's tags mark it as baked by zerodown for this cluster (the operator's own images never are). */
export function isBakedImageOf(cluster: string, tags: Readonly<Record<string, string>>): boolean {
  return tags[CLUSTER_TAG_KEY] === cluster && Boolean(tags[BAKED_FROM_TAG_KEY]);
}

export interface BakedImage {
  readonly imageId: string;
  /** As EC2 reports it: an ISO 8601 timestamp. */
  readonly creationDate: string;
  /** pending | available | failed | ...; an image that failed never counts as one of the retained. */
  readonly state?: string;
}

/**
 * The cluster's baked images to deregister: every one beyond the `retain` newest, and every one that failed, but
 * never an image in `keep` (the image just published and the one it replaced, kept for a rollback). A kept image
 * older than the `retain` newest stays besides them, so up to `retain` + `keep` images may remain.
 */
export function imagesToDeregister(
  images: readonly BakedImage[],
  retain: number,
  keep: readonly (string | null | undefined)[],
): BakedImage[] {
  const kept = new Set(keep.filter((id): id is string => Boolean(id)));
  const newestFirst = [...images].sort(
    (a, b) => timeOf(b) - timeOf(a) || (a.imageId < b.imageId ? 1 : a.imageId > b.imageId ? -1 : 0),
  );
  const usable = newestFirst.filter((image) => !imageFailed(image.state ?? 'available'));
  const retained = new Set(usable.slice(0, Math.max(0, retain)).map((image) => image.imageId));
  return newestFirst.filter((image) => !retained.has(image.imageId) && !kept.has(image.imageId));
}

/** An image whose date does not parse sorts as the oldest, so it is the first to go rather than kept for ever. */
function timeOf(image: BakedImage): number {
  const time = Date.parse(image.creationDate);
  return Number.isNaN(time) ? Number.NEGATIVE_INFINITY : time;
}
