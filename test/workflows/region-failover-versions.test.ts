import { DescribeImagesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmIn } from '../../functions/aws/clients/ssm';
import { saveClusterModel } from '../../functions/aws/ssm';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { VERSION_TAG_KEY } from '../../functions/domain/tags';
import { findDrNodes } from '../../functions/operations/dr-nodes';
import { VERSION_CHECK } from '../../functions/operations/node-checks';
import { recordVersion } from '../../functions/operations/record-version';
import { serveNode } from '../../local/fake-nodes';
import type { LocalExecutionOptions, LocalExecutionResult } from '../../local/local-sfn';
import { DR_REGION } from '../../local/moto-dr';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { drFixture } from '../harness/dr-fixture';
import { DR_IMAGE_PARAMETER, tagImageVersion } from '../harness/image-fixture';
import { useMoto } from '../harness/moto';

const ROLLOUT = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-upgrade-version:to-1.0.0';

interface StatusOutput {
  expectedVersion: string | null;
  versionCheck: string;
  nodes: { instanceId: string; checks: { check: string; passed: boolean; detail: string }[] }[];
}

/** The last answer of the status poll. */
function lastStatus(execution: LocalExecutionResult): StatusOutput | undefined {
  const exited = execution.events.filter(
    (event) => event.type === 'StateExited' && event.state.name === 'Check whether the DR site is ready',
  );
  const last = exited.at(-1);
  return last && 'state' in last ? (last.state.output as { ready?: StatusOutput }).ready : undefined;
}

describe('region-failover: the version of the DR nodes', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { drClients, prepare, run, dnsServing, liveDrNodes } = drFixture();

  /**
   * A DR site whose image runs `imageVersion`, and, with `recorded`, the version a rollout recorded from the primary
   * cluster's serving nodes (which run 1.0.0).
   */
  async function prepareSite(imageVersion: string, options: { recorded: boolean }) {
    const prepared = await prepare();
    const { cluster } = prepared;
    const dr = prepared.site.model.dr;
    if (!dr?.imageId) throw new Error('a DR site with an image expected');
    await tagImageVersion(DR_REGION, dr.imageId, imageVersion);
    // The DR nodes boot from an image parameter, which is kept in step with the cluster: only then is their version
    // compared (a fixed image id stays on the version it was built with).
    await ssmIn(DR_REGION).send(
      new PutParameterCommand({ Name: DR_IMAGE_PARAMETER, Value: dr.imageId, Type: 'String', Overwrite: true }),
    );
    const model = await saveClusterModel(ssmIn(cluster.model.region), {
      ...prepared.site.model,
      dr: { ...dr, imageId: undefined, imageParameter: DR_IMAGE_PARAMETER },
    });
    const site = { ...prepared.site, model };
    if (options.recorded) {
      const result = await recordVersion({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmIn }, site.model, {
        execution: ROLLOUT,
      });
      expect(result).toEqual({ version: '1.0.0', recorded: ['us-east-1', DR_REGION] });
    }
    return { cluster, site };
  }

  /** DR nodes answer once launched, reporting the version their image is tagged with, as a booted image would. */
  function serveFromImage(model: ClusterModel, nodePort: number): LocalExecutionOptions['onEvent'] {
    const served = new Set<string>();
    return (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Launch the DR nodes') return;
      void (async () => {
        const { ec2 } = drClients();
        for (const node of await findDrNodes(ec2, model)) {
          if (served.has(node.instanceId)) continue;
          served.add(node.instanceId);
          const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [node.instanceId] }));
          const imageId = described.Reservations?.[0]?.Instances?.[0]?.ImageId;
          const images = await ec2.send(new DescribeImagesCommand({ ImageIds: imageId ? [imageId] : [] }));
          const version = images.Images?.[0]?.Tags?.find((tag) => tag.Key === VERSION_TAG_KEY)?.Value;
          await serveNode(node.instanceId, node.privateIp ?? '', nodePort, version).catch(() => undefined);
        }
      })();
    };
  }

  it('fails a drill whose DR nodes run another version than the recorded one, and tears them down', async () => {
    const { cluster, site } = await prepareSite('0.9.0', { recorded: true });
    const launched = new Set<string>();
    const serve = serveFromImage(site.model, cluster.nodePort);

    const drill = await run({ mode: 'drill' }, (event) => {
      serve?.(event);
      if (event.type === 'StateExited' && event.state.name === 'Launch the DR nodes') {
        const output = event.state.output as { launched?: { nodes?: { instanceId: string }[] } };
        for (const node of output.launched?.nodes ?? []) launched.add(node.instanceId);
      }
    });

    expect(drill.status).toBe('FAILED');
    expect(drill.error).toBe('VersionMismatchError');
    // The Fail state passes on the Lambda error's cause, as Lambda reports it.
    const cause = (JSON.parse(drill.cause ?? '{}') as { errorMessage?: string }).errorMessage ?? '';
    // The poll fails as soon as one node answers with another version: the other may still be booting, unnamed.
    expect(launched.size).toBe(2);
    const named = [...launched].filter((id) => cause.includes(id));
    expect(named.length).toBeGreaterThanOrEqual(1);
    for (const id of named) expect(cause).toContain(`${id} runs 0.9.0`);
    expect(cause).toContain(`but 1.0.0 was recorded at`);
    expect(cause).toContain(ROLLOUT);
    expect(cause).toContain('dr.imageParameter');
    expect(cause).toContain('"ignoreVersion": true');
    expect(drill.path).toContain('Clean up: tear down the DR nodes');
    expect(drill.path).not.toContain('Point DNS at the DR region');
    expect(drill.path.at(-1)).toBe('Fail after removing the DR nodes');
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('fails a failover to a stale DR site before DNS moves, and fails over with ignoreVersion', async () => {
    const { cluster, site } = await prepareSite('0.9.0', { recorded: true });

    const refused = await run({ mode: 'failover' }, serveFromImage(site.model, cluster.nodePort));

    expect(refused.status).toBe('FAILED');
    expect(refused.error).toBe('VersionMismatchError');
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);

    const anyway = await run({ mode: 'failover', ignoreVersion: true }, serveFromImage(site.model, cluster.nodePort));

    expect(anyway.status).toBe('SUCCEEDED');
    expect(anyway.path.at(-1)).toBe('Region failover complete');
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
    const status = lastStatus(anyway);
    expect(status?.expectedVersion).toBeNull();
    expect(status?.versionCheck).toContain('ignoreVersion');
    for (const node of status?.nodes ?? []) {
      expect(node.checks.map((check) => check.check)).not.toContain(VERSION_CHECK);
    }
  });

  it('drills when the DR nodes run the recorded version, with the version among their checks', async () => {
    const { cluster, site } = await prepareSite('1.0.0', { recorded: true });

    const drill = await run({ mode: 'drill' }, serveFromImage(site.model, cluster.nodePort));

    expect(drill.status).toBe('SUCCEEDED');
    expect(drill.path.at(-1)).toBe('Drill complete');
    const { nodes } = drill.output as { nodes: StatusOutput['nodes'] };
    expect(nodes).toHaveLength(2);
    for (const node of nodes) {
      expect(node.checks).toContainEqual({ check: VERSION_CHECK, passed: true, detail: 'reports 1.0.0' });
    }
    expect(lastStatus(drill)?.expectedVersion).toBe('1.0.0');
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('drills as before when no version is recorded, and says there was nothing to compare', async () => {
    const { cluster, site } = await prepareSite('0.9.0', { recorded: false });

    const drill = await run({ mode: 'drill' }, serveFromImage(site.model, cluster.nodePort));

    expect(drill.status).toBe('SUCCEEDED');
    const status = lastStatus(drill);
    expect(status?.expectedVersion).toBeNull();
    expect(status?.versionCheck).toContain('no version is recorded in /zerodown/clusters/test-cluster/version');
    for (const node of status?.nodes ?? []) {
      expect(node.checks.map((check) => check.check)).not.toContain(VERSION_CHECK);
    }
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('compares nothing when the DR nodes boot a fixed image id, which stays on the version it was built with', async () => {
    const { cluster, site } = await prepare();
    await tagImageVersion(DR_REGION, site.model.dr?.imageId ?? '', '0.9.0');
    await recordVersion({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmIn }, site.model, { execution: ROLLOUT });

    const drill = await run({ mode: 'drill' }, serveFromImage(site.model, cluster.nodePort));

    expect(drill.status).toBe('SUCCEEDED');
    expect(lastStatus(drill)?.expectedVersion).toBeNull();
    expect(lastStatus(drill)?.versionCheck).toContain('fixed image dr.imageId');
  });

  it('refuses an ignoreVersion that is not true or false before it touches anything', async () => {
    const { site } = await prepareSite('0.9.0', { recorded: true });

    const execution = await run({ mode: 'failover', ignoreVersion: 'yes' });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('InputValidationError');
    expect(execution.path.at(-1)).toBe('Fail because ignoreVersion is not true or false');
    expect(execution.path).not.toContain('Take over the DR lock');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });
});
