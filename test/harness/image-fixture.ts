import { CreateTagsCommand, DescribeImagesCommand, EC2Client, type TagSpecification } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { clientConfig } from '../../functions/aws/clients/config';
import { ssmIn } from '../../functions/aws/clients/ssm';
import { saveClusterModel } from '../../functions/aws/ssm';
import type { ClusterModel, ClusterModelInput } from '../../functions/domain/cluster-model';
import { VERSION_TAG_KEY } from '../../functions/domain/tags';
import type { ImageClients } from '../../functions/operations/bake-image';
import { createMotoCluster, type MotoCluster, type MotoClusterOptions } from '../../local/moto-cluster';
import { createMotoDrSite, DR_REGION } from '../../local/moto-dr';

export const IMAGE_PARAMETER = '/test-cluster/ami';
export const DR_IMAGE_PARAMETER = '/test-cluster/dr-ami';

export interface BakingCluster {
  readonly cluster: MotoCluster;
  readonly model: ClusterModel;
  /** The operator's own image each region's parameter names at first (not baked by zerodown). */
  readonly originalImageId: string;
  readonly originalDrImageId: string | null;
}

/**
 * A moto cluster set up for baking: its surge nodes boot from the image `IMAGE_PARAMETER` names, which starts out as
 * the cluster's own image. With `dr`, a DR site in DR_REGION whose nodes boot from `DR_IMAGE_PARAMETER`.
 */
export async function createBakingCluster(
  options: { dr?: boolean; retain?: number; cluster?: MotoClusterOptions } = {},
): Promise<BakingCluster> {
  return enableBaking(await createMotoCluster(options.cluster), options);
}

/** Sets up an existing moto cluster for baking, as `createBakingCluster` does. */
export async function enableBaking(
  cluster: MotoCluster,
  options: { dr?: boolean; retain?: number } = {},
): Promise<BakingCluster> {
  const site = options.dr ? await createMotoDrSite(cluster) : undefined;
  const base = site?.model ?? cluster.model;
  const originalDrImageId = base.dr?.imageId ?? null;

  await putParameter(cluster.model.region, IMAGE_PARAMETER, cluster.imageId);
  if (originalDrImageId) await putParameter(DR_REGION, DR_IMAGE_PARAMETER, originalDrImageId);

  const input: ClusterModelInput = {
    ...base,
    surge: { ...base.surge, imageId: undefined, imageParameter: IMAGE_PARAMETER },
    ...(base.dr ? { dr: { ...base.dr, imageId: undefined, imageParameter: DR_IMAGE_PARAMETER } } : {}),
    ...(options.retain ? { images: { bake: true, retain: options.retain, bakeTimeoutSeconds: 3600 } } : {}),
  };
  const model = await saveClusterModel(ssmIn(cluster.model.region), input);
  return { cluster, model, originalImageId: cluster.imageId, originalDrImageId };
}

async function putParameter(region: string, name: string, value: string): Promise<void> {
  await ssmIn(region).send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
}

function tagsFor(specifications: readonly TagSpecification[] | undefined, resourceType: 'image' | 'snapshot') {
  return (specifications ?? []).filter((spec) => spec.ResourceType === resourceType).flatMap((spec) => spec.Tags ?? []);
}

/**
 * An EC2 client for moto that does what EC2 does where moto 5.2 does not, and nothing else:
 *
 * - CreateImage with a `snapshot` tag specification fails in moto (NotImplementedError, a 500). The middleware sends
 *   the request without it, then tags the new image's snapshots as EC2 would have.
 * - CopyImage ignores its TagSpecifications in moto: the copy and its snapshots come out untagged. The middleware tags
 *   them after the copy, as EC2 tags them with the copy.
 */
export function motoImageEc2(region: string): EC2Client {
  return withMotoImageTagging(new EC2Client(clientConfig(region)));
}

const MOTO_IMAGE_TAGGING = 'motoImageTagSpecifications';

/** Adds what `motoImageEc2` does to an EC2 client, such as a function's own; `withoutMotoImageTagging` removes it. */
export function withMotoImageTagging(ec2: EC2Client): EC2Client {
  ec2.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      if (command !== 'CreateImageCommand' && command !== 'CopyImageCommand') return next(args);
      const input = args.input as { TagSpecifications?: TagSpecification[] };
      const specifications = input.TagSpecifications;
      const sent =
        command === 'CreateImageCommand'
          ? { ...input, TagSpecifications: specifications?.filter((spec) => spec.ResourceType !== 'snapshot') }
          : input;
      const result = await next({ ...args, input: sent });
      const imageId = (result.output as { ImageId?: string }).ImageId ?? '';
      const described = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      const snapshotIds = (described.Images?.[0]?.BlockDeviceMappings ?? []).flatMap(
        (mapping) => mapping.Ebs?.SnapshotId ?? [],
      );
      const imageTags = command === 'CopyImageCommand' ? tagsFor(specifications, 'image') : [];
      if (imageTags.length > 0) await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: imageTags }));
      const snapshotTags = tagsFor(specifications, 'snapshot');
      if (snapshotTags.length > 0 && snapshotIds.length > 0) {
        await ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: snapshotTags }));
      }
      return result;
    },
    { step: 'initialize', name: MOTO_IMAGE_TAGGING },
  );
  return ec2;
}

export function withoutMotoImageTagging(ec2: EC2Client): void {
  ec2.middlewareStack.remove(MOTO_IMAGE_TAGGING);
}

/** The clients bake-image uses, for moto: EC2 through `motoImageEc2`, SSM as the functions build it. */
export function motoImageClients(): ImageClients {
  const ec2 = new Map<string, EC2Client>();
  return {
    ec2: (region) => {
      let client = ec2.get(region);
      if (!client) {
        client = motoImageEc2(region);
        ec2.set(region, client);
      }
      return client;
    },
    ssm: ssmIn,
  };
}

/**
 * Tags an image with the version a node launched from it reports (the simulated nodes read `zerodown:version`, as a
 * node baked from a node of that version would run it). With a version older than the cluster's, the image is stale.
 */
export async function tagImageVersion(region: string, imageId: string, version: string): Promise<void> {
  await new EC2Client(clientConfig(region)).send(
    new CreateTagsCommand({ Resources: [imageId], Tags: [{ Key: VERSION_TAG_KEY, Value: version }] }),
  );
}
