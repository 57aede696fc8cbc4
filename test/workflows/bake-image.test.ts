import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { ec2Client, ec2In } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmIn } from '../../functions/aws/clients/ssm';
import { saveClusterModel } from '../../functions/aws/ssm';
import { readLock } from '../../functions/domain/lock';
import type { RolloutPlan } from '../../functions/domain/plans/rollout';
import { launchSurgeNode } from '../../functions/operations/launch-surge-node';
import { injectError } from '../../local/faults';
import { DR_REGION } from '../../local/moto-dr';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import {
  DR_IMAGE_PARAMETER,
  enableBaking,
  IMAGE_PARAMETER,
  withMotoImageTagging,
  withoutMotoImageTagging,
} from '../harness/image-fixture';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
import { workflowFixture } from '../harness/workflow-fixture';

const PATCH = 'zerodown-test-patch';
/** The version a patched node reports: the one the test's request asks for. */
let patchedVersion = '1.0.1';

async function parameter(region: string, name: string): Promise<string | undefined> {
  return (await ssmIn(region).send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
}

/** The images zerodown baked for the test cluster in a region, newest first. */
async function bakedImages(region: string) {
  const { Images = [] } = await ec2In(region).send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [{ Name: 'tag:zerodown:cluster', Values: ['test-cluster'] }],
    }),
  );
  const tag = (image: (typeof Images)[number], key: string) => image.Tags?.find((t) => t.Key === key)?.Value;
  return Images.filter((image) => tag(image, 'zerodown:baked-from'))
    .sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))
    .map((image) => ({
      imageId: image.ImageId,
      version: tag(image, 'zerodown:version'),
      from: tag(image, 'zerodown:baked-from'),
    }));
}

describe('patch-server bakes the image of the patched cluster', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  // moto cannot tag an image's snapshots at CreateImage, nor a copy at CopyImage: the functions' own EC2 clients do
  // here what EC2 does (see motoImageEc2), and nothing else.
  beforeAll(() => {
    withMotoImageTagging(ec2Client);
    withMotoImageTagging(ec2In(DR_REGION));
  });
  afterAll(() => {
    withoutMotoImageTagging(ec2Client);
    withoutMotoImageTagging(ec2In(DR_REGION));
  });
  const { prepare, run, expectCleanCluster, failureOf, lockStore } = workflowFixture({
    stateMachine: 'patch-server',
    defaultInput: { patchId: 'P42', version: '1.0.1' },
    onCommand: (command, node) => {
      if (command.documentName === PATCH) node.version = patchedVersion;
      return undefined;
    },
  });

  it('bakes the idle patched node, copies the image to the DR region, and points both parameters at it', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const baking = await enableBaking(cluster, { dr: true });
    const passive = cluster.model.nodes[1]?.instanceId;

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    // The traffic went back to the active node: the passive one, patched and idle, is the image's source.
    const [image] = await bakedImages(cluster.model.region);
    expect(image).toEqual({ imageId: expect.any(String), version: '1.0.1', from: passive });
    expect(await parameter(cluster.model.region, IMAGE_PARAMETER)).toBe(image?.imageId);
    const [copy] = await bakedImages(DR_REGION);
    expect(copy?.version).toBe('1.0.1');
    expect(await parameter(DR_REGION, DR_IMAGE_PARAMETER)).toBe(copy?.imageId);
    expect(execution.path.indexOf('Publish the image')).toBeLessThan(
      execution.path.indexOf('Deregister the surge node'),
    );
    expect(simulated.commands.map((command) => command.documentName)).toEqual([PATCH, PATCH]);
    // The operator's own images stay where they are: they were never zerodown's to remove.
    const originals = await ec2Client.send(new DescribeImagesCommand({ ImageIds: [baking.originalImageId] }));
    expect(originals.Images).toHaveLength(1);

    // A node launched afterwards (as a surge or a replacement is) boots the image and reports the new version.
    const launched = await launchSurgeNode(
      { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmIn(cluster.model.region) },
      baking.model,
      'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:after-the-bake',
    );
    const served = await waitForNode(simulated.nodes, launched.instanceId);
    expect(served.version).toBe('1.0.1');
  });

  it('keeps the idle node out of service while the bake reboots it, and goes on only once it is back', async () => {
    // A failover that a peer or an alarm starts during the reboot must find the node named in the lock's record, or
    // it would pre-empt the patch (see failover.test.ts, which proves what the record makes a failover do).
    const { cluster, simulated } = await prepare('active-passive');
    await enableBaking(cluster);
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    let recordedDuringBake: readonly string[] | undefined;
    let rebooted = false;

    const execution = await run({}, (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Bake the image' || rebooted) return;
      rebooted = true;
      const node = simulated.nodes.get(passive);
      // EC2 reboots the instance for the image: it answers nothing for a while (1.5 s here).
      if (node) node.healthStatus = 503;
      setTimeout(() => {
        if (node) node.healthStatus = 200;
      }, 1_500);
      void readLock(lockStore(), cluster.model.name).then((lock) => {
        recordedDuringBake = lock?.recovery?.outOfService;
      });
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recordedDuringBake).toEqual([passive]);
    const at = (state: string) => execution.path.indexOf(state);
    expect(at('Check: the image to be available')).toBeLessThan(at('Verify the idle node for the image'));
    expect(at('Verify the idle node for the image')).toBeLessThan(at('Deregister the surge node'));
    expect(execution.path).not.toContain('Say that the idle node did not come back from the bake');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('tells the operator when the idle node does not come back from the bake, and still succeeds', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    await enableBaking(cluster);
    const published = await topicEvents();
    const passive = cluster.model.nodes[1]?.instanceId ?? '';

    const execution = await run({}, (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Bake the image') return;
      const node = simulated.nodes.get(passive);
      // The node comes back on the wrong version: its checks pass, its version does not.
      if (node) node.version = '0.9.0';
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Say that the idle node did not come back from the bake');
    // No longer this workflow's: the record stops naming it, so a failover its alarm starts replaces it.
    expect(execution.path).toContain('Note: the idle node for the image is left to failover');
    expect(execution.path).toContain('Publish the image');
    expect((await published()).find((event) => event.outcome === 'attention')).toMatchObject({
      step: 'Image source not back',
      detail: { step: 'Verify the idle node for the image', error: { Error: 'VersionMismatchError' } },
    });
  });

  it('keeps the configured number of baked images in each region, the previous one among them', async () => {
    const { cluster } = await prepare('active-passive');
    await enableBaking(cluster, { dr: true, retain: 2 });

    const published: (string | undefined)[] = [];
    for (const version of ['1.0.1', '1.0.2', '1.0.3']) {
      patchedVersion = version;
      const execution = await run({ version, patchId: `P-${version}` });
      expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
      published.push(await parameter(cluster.model.region, IMAGE_PARAMETER));
      // Creation dates are whole seconds in moto; retention sorts by them.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }

    const kept = await bakedImages(cluster.model.region);
    expect(kept.map((image) => image.imageId)).toEqual([published[2], published[1]]);
    expect(kept.map((image) => image.version)).toEqual(['1.0.3', '1.0.2']);
    expect((await bakedImages(DR_REGION)).map((image) => image.version)).toEqual(['1.0.3', '1.0.2']);
    patchedVersion = '1.0.1';
  });

  it('bakes an active/active cluster from the surge node, once it is patched and out of service', async () => {
    const { cluster, simulated } = await prepare('active-active');
    await enableBaking(cluster);

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const surge = simulated.commands.at(-1)?.instanceIds[0];
    expect(cluster.model.nodes.map((node) => node.instanceId)).not.toContain(surge);
    expect(simulated.commands.map((command) => command.documentName)).toEqual([PATCH, PATCH, PATCH]);
    const [image] = await bakedImages(cluster.model.region);
    expect(image).toMatchObject({ version: '1.0.1', from: surge });
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('reports a bake that fails without rolling back the patch, and keeps the old image', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const baking = await enableBaking(cluster);
    const published = await topicEvents();
    // EC2 refuses the image (moto never does; the error is injected, as the SDK would raise it after its retries).
    injectError(
      ec2Client,
      'CreateImageCommand',
      () => Object.assign(new Error('Insufficient capacity to create the image'), { name: 'InsufficientCapacity' }),
      { sdkRetriesExhausted: true },
    );

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Say that the image was not baked');
    // The node may have begun its reboot: it is waited for and verified before the surge node goes, and nothing is
    // published.
    const at = (state: string) => execution.path.indexOf(state);
    expect(at('Say that the image was not baked')).toBeLessThan(at('Verify the idle node for the image'));
    expect(at('Verify the idle node for the image')).toBeLessThan(at('Deregister the surge node'));
    expect(execution.path).not.toContain('Publish the image');
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe('1.0.1');
    expect(await parameter(cluster.model.region, IMAGE_PARAMETER)).toBe(baking.originalImageId);
    expect((await published()).find((event) => event.outcome === 'attention')).toMatchObject({
      step: 'Image not baked',
      detail: { reason: expect.stringContaining('image parameters keep the image they had'), step: 'Bake the image' },
    });
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('shows the bake in the dry run, and bakes nothing when the model turns it off', async () => {
    const { cluster } = await prepare('active-passive');
    const baking = await enableBaking(cluster);

    const plan = (await run({ dryRun: true })).output as unknown as RolloutPlan;
    expect(plan.image).toMatchObject({ version: '1.0.1', drRegion: null, retain: 3 });
    expect(plan.steps.map((step) => step.step)).toEqual(
      expect.arrayContaining(['Bake the image', 'Publish the image']),
    );

    await saveClusterModel(ssmIn(cluster.model.region), { ...baking.model, images: { bake: false } });
    const execution = await run({});
    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).not.toContain('Bake the image');
    expect(await bakedImages(cluster.model.region)).toEqual([]);
    expect(await parameter(cluster.model.region, IMAGE_PARAMETER)).toBe(baking.originalImageId);
  });
});

async function waitForNode<T>(nodes: Map<string, T>, id: string): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const node = nodes.get(id);
    if (node) return node;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`node ${id} never answered`);
}
