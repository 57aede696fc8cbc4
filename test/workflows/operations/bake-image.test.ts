import { createHash } from 'node:crypto';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { clientConfig } from '../../../functions/aws/clients/config';
import { ec2Client, ec2In } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient, ssmIn } from '../../../functions/aws/clients/ssm';
import { parameterValue, putParameterValue } from '../../../functions/aws/ssm';
import type { ClusterModel } from '../../../functions/domain/cluster-model';
import { ConfigurationError, ImageBakeFailedError, InputValidationError } from '../../../functions/domain/errors';
import { imageNameFor } from '../../../functions/domain/images';
import {
  copyImageToDr,
  type ImageClients,
  imageBakeStatus,
  publishImage,
  startImageBake,
} from '../../../functions/operations/bake-image';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { DR_REGION } from '../../../local/moto-dr';
import {
  createBakingCluster,
  DR_IMAGE_PARAMETER,
  IMAGE_PARAMETER,
  motoImageClients,
  motoImageEc2,
} from '../../harness/image-fixture';
import { useMoto } from '../../harness/moto';

const executionArn = (name: string) =>
  `arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-upgrade-version:${name}`;
const EXECUTION = executionArn('upgrade-1.1.0');

/** The passive node: after an upgrade it runs the new version and carries no traffic. */
const passiveNode = (model: ClusterModel) => model.nodes.find((node) => node.slot === 'b')?.instanceId ?? '';

/** Starts the bake of the passive node, as the first step of a run of EXECUTION does. */
function bakePassive(clients: ImageClients, model: ClusterModel) {
  return startImageBake(clients.ec2(model.region), model, {
    instanceId: passiveNode(model),
    version: '1.1.0',
    execution: EXECUTION,
    pollIntervalSeconds: 10,
  });
}

const tagsOf = (image: Pick<Image, 'Tags'> | undefined) =>
  Object.fromEntries((image?.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));

async function ownImages(region: string): Promise<Image[]> {
  return (await ec2In(region).send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
}

async function snapshotTags(region: string, image: Image | undefined) {
  const snapshotIds = (image?.BlockDeviceMappings ?? []).flatMap((mapping) => mapping.Ebs?.SnapshotId ?? []);
  const described = await ec2In(region).send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
  return (described.Snapshots ?? []).map(tagsOf);
}

async function snapshotExists(region: string, snapshotId: string): Promise<boolean> {
  try {
    const described = await ec2In(region).send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    return (described.Snapshots ?? []).length > 0;
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidSnapshot.NotFound') return false;
    throw error;
  }
}

/** One whole bake, as the workflow would sequence it once a node of `execution` is changed. */
async function bakeAndPublish(clients: ImageClients, model: ClusterModel, version: string) {
  const started = await startImageBake(clients.ec2(model.region), model, {
    instanceId: passiveNode(model),
    version,
    execution: executionArn(`upgrade-${version}`),
    pollIntervalSeconds: 10,
  });
  const copy = await copyImageToDr(clients, model, { imageId: started.imageId });
  const published = await publishImage(clients, model, { imageId: started.imageId, drImageId: copy.drImageId });
  // moto dates images to the second; retention orders them by that date, so each bake gets a second of its own.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return { imageId: started.imageId, drImageId: copy.drImageId, published };
}

describe('bake-image', () => {
  useMoto();

  describe('create', () => {
    it('bakes the node once, tagging the image and its snapshots, however often it is retried', async () => {
      const { model } = await createBakingCluster({ dr: true });
      const clients = motoImageClients();
      const request = {
        instanceId: passiveNode(model),
        version: '1.1.0',
        execution: EXECUTION,
        pollIntervalSeconds: 10,
      };

      const first = await startImageBake(clients.ec2(model.region), model, request);
      const retried = await startImageBake(clients.ec2(model.region), model, request);

      expect(first).toMatchObject({ reused: false });
      expect(retried).toMatchObject({ imageId: first.imageId, name: first.name, reused: true });
      expect(first.name).toMatch(/^zerodown-test-cluster-1\.1\.0-upgrade-1\.1\.0-[0-9a-f]{8}$/);
      const baked = (await ownImages(model.region)).filter((image) => tagsOf(image)['zerodown:baked-from']);
      expect(baked.map((image) => image.ImageId)).toEqual([first.imageId]);
      const expectedTags = {
        'zerodown:cluster': 'test-cluster',
        'zerodown:version': '1.1.0',
        'zerodown:execution': EXECUTION,
        'zerodown:baked-from': passiveNode(model),
      };
      expect(tagsOf(baked[0])).toEqual(expectedTags);
      expect(baked[0]?.SourceInstanceId).toBe(passiveNode(model));
      expect(await snapshotTags(model.region, baked[0])).toEqual([expectedTags]);
    });

    it('never takes an image of the same name that is not tagged as the cluster bake for its own', async () => {
      const { model } = await createBakingCluster();
      const digest = createHash('sha256').update(EXECUTION).digest('hex').slice(0, 8);
      const name = imageNameFor('test-cluster', '1.1.0', EXECUTION, digest);
      await ec2Client.send(new CreateImageCommand({ InstanceId: passiveNode(model), Name: name }));

      await expect(
        startImageBake(motoImageEc2(model.region), model, {
          instanceId: passiveNode(model),
          version: '1.1.0',
          execution: EXECUTION,
          pollIntervalSeconds: 10,
        }),
      ).rejects.toThrow(`An image named ${name}`);
    });

    it('bakes the surge node of the cluster', async () => {
      const { model } = await createBakingCluster();
      const surge = await launchSurgeNode({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, EXECUTION);

      const started = await startImageBake(motoImageEc2(model.region), model, {
        instanceId: surge.instanceId,
        version: 'PATCH-2024:07+1',
        execution: EXECUTION,
        pollIntervalSeconds: 10,
      });

      const [image] = (await ec2Client.send(new DescribeImagesCommand({ ImageIds: [started.imageId] }))).Images ?? [];
      expect(tagsOf(image)).toMatchObject({
        'zerodown:baked-from': surge.instanceId,
        'zerodown:version': 'PATCH-2024:07+1',
      });
      expect(image?.Name).toMatch(/^zerodown-test-cluster-PATCH-2024-07-1-upgrade-1\.1\.0-[0-9a-f]{8}$/);
    });

    it('refuses an instance that is not a node of the cluster before creating anything', async () => {
      const { cluster, model } = await createBakingCluster();
      const stranger = await ec2Client.send(
        new RunInstancesCommand({ ImageId: cluster.imageId, MinCount: 1, MaxCount: 1 }),
      );
      const instanceId = stranger.Instances?.[0]?.InstanceId ?? '';
      const before = (await ownImages(model.region)).map((image) => image.ImageId);

      const refused = startImageBake(motoImageEc2(model.region), model, {
        instanceId,
        version: '1.1.0',
        execution: EXECUTION,
        pollIntervalSeconds: 10,
      });

      await expect(refused).rejects.toThrow(ImageBakeFailedError);
      await expect(refused).rejects.toThrow(
        `Refusing to bake an image of ${instanceId}: it is not a node of cluster "test-cluster"`,
      );
      expect((await ownImages(model.region)).map((image) => image.ImageId)).toEqual(before);
    });

    it('refuses a cluster that does not bake images', async () => {
      const { model } = await createBakingCluster();
      const off = { ...model, images: { bake: false, retain: 3, bakeTimeoutSeconds: 3600 } };

      await expect(
        startImageBake(motoImageEc2(model.region), off, {
          instanceId: passiveNode(model),
          version: '1.1.0',
          execution: EXECUTION,
          pollIntervalSeconds: 10,
        }),
      ).rejects.toThrow(ConfigurationError);
    });
  });

  describe('status', () => {
    it('reports the image available, in either of the cluster regions', async () => {
      const { model } = await createBakingCluster({ dr: true });
      const clients = motoImageClients();
      const { imageId } = await bakePassive(clients, model);
      const { drImageId } = await copyImageToDr(clients, model, { imageId });

      await expect(imageBakeStatus(clients, model, { imageId })).resolves.toEqual({
        imageId,
        region: model.region,
        state: 'available',
        available: true,
      });
      await expect(imageBakeStatus(clients, model, { imageId: drImageId ?? '', region: DR_REGION })).resolves.toEqual({
        imageId: drImageId,
        region: DR_REGION,
        state: 'available',
        available: true,
      });
      await expect(imageBakeStatus(clients, model, { imageId, region: 'ap-south-1' })).rejects.toThrow(
        ConfigurationError,
      );
    });

    it('fails with ImageBakeFailedError when the image failed', async () => {
      const { model } = await createBakingCluster();
      const clients = motoImageClients();
      const { imageId } = await bakePassive(clients, model);
      // moto's images are available at once and never fail; EC2's answer for a failed one is injected.
      const failing = new EC2Client(clientConfig(model.region));
      failing.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          if (context.commandName !== 'DescribeImagesCommand') return result;
          const output = result.output as { Images?: Image[] };
          for (const image of output.Images ?? []) {
            image.State = 'failed';
            image.StateReason = { Code: 'Server.InternalError', Message: 'Internal error' };
          }
          return result;
        },
        { step: 'initialize', name: 'failedImage' },
      );

      await expect(imageBakeStatus({ ...clients, ec2: () => failing }, model, { imageId })).rejects.toThrow(
        new ImageBakeFailedError(`Image ${imageId} in us-east-1 is failed: Internal error`),
      );
    });

    it('answers an image EC2 does not list yet as not available, for the poll to try again within its bound', async () => {
      const { model } = await createBakingCluster();

      await expect(imageBakeStatus(motoImageClients(), model, { imageId: 'ami-0123456789abcdef0' })).resolves.toEqual({
        imageId: 'ami-0123456789abcdef0',
        region: model.region,
        state: 'not listed yet',
        available: false,
      });
    });
  });

  describe('copy', () => {
    it('copies the image to the DR region with its tags and the source id, once however often retried', async () => {
      const { model } = await createBakingCluster({ dr: true });
      const clients = motoImageClients();
      const { imageId } = await bakePassive(clients, model);

      const first = await copyImageToDr(clients, model, { imageId });
      const retried = await copyImageToDr(clients, model, { imageId });

      expect(first).toEqual({ drImageId: expect.stringMatching(/^ami-/), region: DR_REGION });
      expect(retried).toEqual(first);
      const copies = (await ownImages(DR_REGION)).filter((image) => tagsOf(image)['zerodown:source-image']);
      expect(copies.map((image) => image.ImageId)).toEqual([first.drImageId]);
      const expectedTags = {
        'zerodown:cluster': 'test-cluster',
        'zerodown:version': '1.1.0',
        'zerodown:execution': EXECUTION,
        'zerodown:baked-from': passiveNode(model),
        'zerodown:source-image': imageId,
      };
      expect(tagsOf(copies[0])).toEqual(expectedTags);
      expect(await snapshotTags(DR_REGION, copies[0])).toEqual([expectedTags]);
      // Nothing lands in the cluster's own region.
      expect((await ownImages(model.region)).some((image) => image.ImageId === first.drImageId)).toBe(false);
    });

    it('answers no copy for a cluster without a DR region', async () => {
      const { model } = await createBakingCluster();
      const clients = motoImageClients();
      const { imageId } = await bakePassive(clients, model);

      await expect(copyImageToDr(clients, model, { imageId })).resolves.toEqual({ drImageId: null, region: null });
    });

    it('refuses to copy an image zerodown did not bake', async () => {
      const { model, originalImageId } = await createBakingCluster({ dr: true });

      await expect(copyImageToDr(motoImageClients(), model, { imageId: originalImageId })).rejects.toThrow(
        ImageBakeFailedError,
      );
      expect((await ownImages(DR_REGION)).filter((image) => tagsOf(image)['zerodown:source-image'])).toEqual([]);
    });
  });

  describe('publish', () => {
    it('points both parameters at the new images and answers what they named before', async () => {
      const { model, originalImageId, originalDrImageId } = await createBakingCluster({ dr: true });
      const clients = motoImageClients();

      const { imageId, drImageId, published } = await bakeAndPublish(clients, model, '1.1.0');

      expect(published).toEqual({
        imageParameter: IMAGE_PARAMETER,
        imageId,
        previousImageId: originalImageId,
        drImageParameter: DR_IMAGE_PARAMETER,
        drImageId,
        previousDrImageId: originalDrImageId,
        deregistered: [],
      });
      expect(await parameterValue(ssmIn(model.region), IMAGE_PARAMETER)).toBe(imageId);
      expect(await parameterValue(ssmIn(DR_REGION), DR_IMAGE_PARAMETER)).toBe(drImageId);
      // A retry answers the same, though the parameters already name the new images.
      await expect(publishImage(clients, model, { imageId, drImageId })).resolves.toEqual(published);
    });

    it('keeps the retained number of baked images in each region, the previous one among them', async () => {
      const { cluster, model, originalImageId, originalDrImageId } = await createBakingCluster({ dr: true, retain: 2 });
      const clients = motoImageClients();
      // The operator's own images: one tagged with the cluster, one not tagged at all. Neither is zerodown's bake.
      const builder = await ec2Client.send(
        new RunInstancesCommand({ ImageId: cluster.imageId, MinCount: 1, MaxCount: 1 }),
      );
      const builderId = builder.Instances?.[0]?.InstanceId ?? '';
      const operatorImages = await Promise.all(
        [
          { Name: 'operator-untagged' },
          {
            Name: 'operator-tagged',
            TagSpecifications: [
              { ResourceType: 'image' as const, Tags: [{ Key: 'zerodown:cluster', Value: 'test-cluster' }] },
            ],
          },
        ].map(
          async (input) => (await ec2Client.send(new CreateImageCommand({ InstanceId: builderId, ...input }))).ImageId,
        ),
      );

      const first = await bakeAndPublish(clients, model, '1.1.0');
      const second = await bakeAndPublish(clients, model, '1.2.0');
      const firstSnapshots = (
        await ec2Client.send(new DescribeImagesCommand({ ImageIds: [first.imageId] }))
      ).Images?.[0]?.BlockDeviceMappings?.flatMap((mapping) => mapping.Ebs?.SnapshotId ?? []);
      expect(second.published.deregistered).toEqual([]);
      const third = await bakeAndPublish(clients, model, '1.3.0');

      expect(third.published).toMatchObject({ previousImageId: second.imageId, previousDrImageId: second.drImageId });
      expect(third.published.deregistered).toEqual([
        { imageId: first.imageId, region: model.region, snapshotIds: firstSnapshots },
        { imageId: first.drImageId, region: DR_REGION, snapshotIds: expect.any(Array) },
      ]);
      const remaining = (await ownImages(model.region)).map((image) => image.ImageId).sort();
      expect(remaining).toEqual([third.imageId, second.imageId, originalImageId, ...operatorImages].sort());
      const remainingDr = (await ownImages(DR_REGION)).map((image) => image.ImageId).sort();
      expect(remainingDr).toEqual([third.drImageId, second.drImageId, originalDrImageId].sort());
      for (const { region, snapshotIds } of third.published.deregistered) {
        expect(snapshotIds.length).toBeGreaterThan(0);
        for (const snapshotId of snapshotIds) expect(await snapshotExists(region, snapshotId)).toBe(false);
      }
    });

    it('keeps the image the parameter named before even when it is older than the retained ones', async () => {
      const { model } = await createBakingCluster({ retain: 2 });
      const clients = motoImageClients();
      const first = await bakeAndPublish(clients, model, '1.1.0');
      const second = await bakeAndPublish(clients, model, '1.2.0');
      // The operator rolled back to the first bake by hand.
      await putParameterValue(ssmIn(model.region), IMAGE_PARAMETER, first.imageId);

      const third = await bakeAndPublish(clients, model, '1.3.0');

      expect(third.published).toMatchObject({ previousImageId: first.imageId, deregistered: [] });
      const baked = (await ownImages(model.region)).filter((image) => tagsOf(image)['zerodown:baked-from']);
      expect(baked.map((image) => image.ImageId).sort()).toEqual([first.imageId, second.imageId, third.imageId].sort());
    });

    it('refuses an image that is not the cluster bake, before writing any parameter', async () => {
      const { model, originalImageId } = await createBakingCluster();
      const clients = motoImageClients();
      const { imageId } = await bakePassive(clients, model);

      await expect(publishImage(clients, model, { imageId: originalImageId, drImageId: null })).rejects.toThrow(
        ImageBakeFailedError,
      );
      await expect(publishImage(clients, model, { imageId, drImageId: 'ami-0123456789abcdef0' })).rejects.toThrow(
        'has no DR region',
      );
      expect(await parameterValue(ssmIn(model.region), IMAGE_PARAMETER)).toBe(originalImageId);

      await expect(publishImage(clients, model, { imageId, drImageId: null })).resolves.toMatchObject({
        imageId,
        previousImageId: originalImageId,
        drImageParameter: null,
        previousDrImageId: null,
      });
    });

    it('refuses a DR image that is not the copy of the published one', async () => {
      const { model } = await createBakingCluster({ dr: true });
      const clients = motoImageClients();
      const first = await bakePassive(clients, model);
      const second = await startImageBake(clients.ec2(model.region), model, {
        instanceId: passiveNode(model),
        version: '1.2.0',
        execution: executionArn('upgrade-1.2.0'),
        pollIntervalSeconds: 10,
      });
      const { drImageId } = await copyImageToDr(clients, model, { imageId: first.imageId });

      await expect(publishImage(clients, model, { imageId: second.imageId, drImageId })).rejects.toThrow(
        `is not a copy of ${second.imageId}`,
      );
    });
  });

  describe('handler', () => {
    it('refuses bad input with InputValidationError naming the field', async () => {
      const { handler } = await import('../../../functions/bake-image');

      const error = await handler({ cluster: 'test-cluster', action: 'copy', imageId: 'img-1' }).catch(
        (caught: unknown) => caught,
      );

      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).issues.map((issue) => issue.path)).toContain('imageId');
    });
  });
});
