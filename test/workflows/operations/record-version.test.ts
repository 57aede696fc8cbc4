import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmIn } from '../../../functions/aws/clients/ssm';
import { loadVersionRecord, putParameterValue } from '../../../functions/aws/ssm';
import { ClusterModelError, InputValidationError, VersionMismatchError } from '../../../functions/domain/errors';
import type { ClusterSnapshot } from '../../../functions/domain/snapshot';
import { versionRecordParameterName } from '../../../functions/domain/version-record';
import { recordVersion, type VersionRecordResult } from '../../../functions/operations/record-version';
import { createMotoCluster, serveClusterNodes } from '../../../local/moto-cluster';
import { createMotoDrSite, DR_REGION } from '../../../local/moto-dr';
import { LOCAL_REGION } from '../../../local/settings';
import { useFakeNodes, useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmIn };
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-upgrade-version:to-1.1.0';
const RECORDED_AT = new Date('2030-01-02T03:04:05.000Z');

const recordIn = (region: string) => loadVersionRecord(ssmIn(region), 'test-cluster');

describe('recordVersion', () => {
  useMoto();
  useFaults();
  useFakeNodes();

  it('records the version the serving nodes report in the cluster region and the DR region, and again harmlessly', async () => {
    const cluster = await createMotoCluster({ topology: 'active-active' });
    await serveClusterNodes(cluster, '1.1.0');
    const { model } = await createMotoDrSite(cluster);

    const first = await recordVersion(clients, model, { execution: EXECUTION, now: RECORDED_AT });
    const again = await recordVersion(clients, model, { execution: EXECUTION, now: RECORDED_AT });

    const recorded: VersionRecordResult = { version: '1.1.0', recorded: [LOCAL_REGION, DR_REGION] };
    expect(first).toEqual(recorded);
    expect(again).toEqual(recorded);
    const record = { version: '1.1.0', recordedAt: RECORDED_AT.toISOString(), execution: EXECUTION };
    expect(await recordIn(LOCAL_REGION)).toEqual(record);
    expect(await recordIn(DR_REGION)).toEqual(record);
  });

  it('records in the cluster region only when the cluster has no DR site', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    await serveClusterNodes(cluster, '1.1.0');

    const result = await recordVersion(clients, cluster.model, { execution: EXECUTION });

    expect(result).toEqual({ version: '1.1.0', recorded: [LOCAL_REGION] });
    expect(await recordIn(LOCAL_REGION)).toMatchObject({ version: '1.1.0', execution: EXECUTION });
    expect(await recordIn(DR_REGION)).toBeUndefined();
  });

  it('records nothing, keeps the earlier record, and says why with a named error, when the nodes disagree', async () => {
    const cluster = await createMotoCluster({ topology: 'active-active' });
    const [first, second] = await serveClusterNodes(cluster, '1.0.0');
    const { model } = await createMotoDrSite(cluster);
    await recordVersion(clients, model, { execution: EXECUTION, now: RECORDED_AT });
    if (second) second.version = '1.1.0';

    const error = await recordVersion(clients, model, { execution: `${EXECUTION}-again` }).catch(
      (caught: unknown) => caught,
    );

    // The rollout sends an `attention` notice with this: the DR site would go on comparing with the old record.
    expect(error).toBeInstanceOf(VersionMismatchError);
    expect((error as Error).message).toContain("The cluster's version was not recorded");
    expect((error as Error).message).toContain(`${first?.instanceId} runs 1.0.0`);
    expect((error as Error).message).toContain(`${second?.instanceId} runs 1.1.0`);
    for (const region of [LOCAL_REGION, DR_REGION]) {
      expect(await recordIn(region)).toEqual({
        version: '1.0.0',
        recordedAt: RECORDED_AT.toISOString(),
        execution: EXECUTION,
      });
    }
  });

  it('records nothing, with a named error, when nodes that can report a version report none', async () => {
    // No node answers: moto's targets are healthy, but nothing serves the version endpoint.
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    const { model } = await createMotoDrSite(cluster);

    const error = await recordVersion(clients, model, { execution: EXECUTION }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(VersionMismatchError);
    expect((error as Error).message).toMatch(/report no version/);
    expect(await recordIn(LOCAL_REGION)).toBeUndefined();
    expect(await recordIn(DR_REGION)).toBeUndefined();
  });

  it('records nothing, quietly, for a model whose nodes cannot report a version', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    const model = {
      ...cluster.model,
      healthChecks: {
        ...cluster.model.healthChecks,
        version: undefined,
      },
    };

    const result = await recordVersion(clients, model, { execution: EXECUTION });

    expect(result).toMatchObject({ version: null, recorded: [] });
    expect(await recordIn(LOCAL_REGION)).toBeUndefined();
  });

  it('names the parameter and the field of a malformed record', async () => {
    const parameter = versionRecordParameterName('test-cluster');
    await putParameterValue(ssmIn(DR_REGION), parameter, JSON.stringify({ version: '1.1.0', recordedAt: 'yesterday' }));

    const error = await recordIn(DR_REGION).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ClusterModelError);
    expect((error as Error).message).toContain(`Version record in ${parameter}`);
    expect((error as ClusterModelError).issues.map((issue) => issue.path)).toEqual(['recordedAt', 'execution']);
  });
});

describe('the snapshot-cluster handler', () => {
  useMoto();
  useFaults();
  useFakeNodes();

  async function handler() {
    process.env.CLUSTER_NAME = 'test-cluster';
    return ((await import('../../../functions/snapshot-cluster')) as { handler: (event: unknown) => Promise<unknown> })
      .handler;
  }
  afterEach(() => {
    delete process.env.CLUSTER_NAME;
  });

  it('still answers { cluster } with the snapshot', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    await serveClusterNodes(cluster, '1.0.0');

    const snapshot = (await (await handler())({ cluster: 'test-cluster' })) as ClusterSnapshot;

    expect(snapshot).toMatchObject({ cluster: 'test-cluster', servingHealthyNodes: 1 });
    expect(snapshot.nodes.map((node) => node.version)).toEqual(['1.0.0', '1.0.0']);
    expect(await recordIn(LOCAL_REGION)).toBeUndefined();
  });

  it('records the version with action record-version', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    await serveClusterNodes(cluster, '1.0.0');
    await createMotoDrSite(cluster);

    const result = await (await handler())({ cluster: 'test-cluster', action: 'record-version', execution: EXECUTION });

    expect(result).toEqual({ version: '1.0.0', recorded: [LOCAL_REGION, DR_REGION] });
    expect(await recordIn(DR_REGION)).toMatchObject({ version: '1.0.0', execution: EXECUTION });
  });

  it.each([
    ['execution', { cluster: 'test-cluster', action: 'record-version' }],
    ['execution', { cluster: 'test-cluster', action: 'record-version', execution: 'run-1' }],
    ['action', { cluster: 'test-cluster', action: 'record' }],
    ['execution', { cluster: 'test-cluster', execution: EXECUTION }],
  ])('refuses bad input with InputValidationError naming %s', async (field, event) => {
    const error = await (await handler())(event).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).issues.map((issue) => issue.path)).toEqual([field]);
  });
});
