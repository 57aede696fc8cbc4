import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { rdsClient } from '../../functions/aws/clients/rds';
import { ssmClient } from '../../functions/aws/clients/ssm';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { readLock } from '../../functions/domain/lock';
import type { RolloutPlan } from '../../functions/domain/plans/rollout';
import { failedCommand } from '../../local/faults';
import type { LocalExecutionResult } from '../../local/local-sfn';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import {
  enableBaking,
  IMAGE_PARAMETER,
  tagImageVersion,
  withMotoImageTagging,
  withoutMotoImageTagging,
} from '../harness/image-fixture';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
import { workflowFixture } from '../harness/workflow-fixture';

const MIGRATION_OUTPUT = 'Applied V12__add_api_revision.sql, V13__drop_legacy_tokens.sql';
const MIGRATE = 'zerodown-test-migrate';
const UPGRADE = 'zerodown-test-upgrade';

/** The model declares that the old version keeps working on the migrated schema: the migrations may run first. */
const oldRunsOnNew = (model: ClusterModelInput): ClusterModelInput => ({
  ...model,
  database: { engine: 'rds-instance', identifier: model.database?.identifier ?? '', oldVersionRunsOnNewSchema: true },
});
const withoutDatabase = ({ database: _database, ...model }: ClusterModelInput): ClusterModelInput => model;

interface UpgradeOutput {
  migration?: { invocations: { outputTail: string }[] };
  databaseSnapshot?: { snapshotId: string; database: string; available: boolean; restoreWith: string };
  pointOfNoReturn?: { step: string; snapshot: { snapshotId: string | null } };
  rollback?: {
    pointOfNoReturn?: { reason: string; snapshot: { snapshotId: string | null }; keptWeights: Record<string, number> };
    pointOfNoReturnNotice?: unknown;
  };
}

/** The state as the state `name` left it, when it ran: what a failed execution kept on its way out. */
function stateAfter(execution: LocalExecutionResult, name: string): UpgradeOutput | undefined {
  const exited = execution.events.find((event) => event.type === 'StateExited' && event.state.name === name);
  return exited && 'state' in exited ? (exited.state.output as UpgradeOutput) : undefined;
}

async function snapshotsOf(database: string) {
  const { DBSnapshots = [] } = await rdsClient.send(
    new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: database, SnapshotType: 'manual' }),
  );
  return DBSnapshots;
}

/** The commands sent, as document and node, in order. */
const commandsOf = (simulated: SimulatedNodes) =>
  simulated.commands.map((command) => [command.documentName, command.instanceIds[0]]);

/** Fails the migrate command only (moto reports every command as a success; the failure is injected). */
function failMigration(simulated: SimulatedNodes, instanceId: string) {
  failedCommand(
    instanceId,
    { output: 'ERROR: relation "api_revision" already exists', responseCode: 3 },
    {
      when: (input) =>
        simulated.commands.find((command) => command.commandId === input.CommandId)?.documentName === MIGRATE,
    },
  );
}

describe('upgrade-version', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  // The migrate document reports the scripts it applied; the upgrade document installs and restarts the version.
  const { prepare, run, expectCleanCluster, failureOf, weights, lockStore } = workflowFixture({
    stateMachine: 'upgrade-version',
    defaultInput: { version: '2.0.0' },
    onCommand: (command, node) => {
      if (command.documentName === MIGRATE) return MIGRATION_OUTPUT;
      if (command.documentName === UPGRADE) node.version = command.parameters.TargetVersion?.[0] ?? '';
      return undefined;
    },
  });

  it('upgrades both nodes first and migrates last on the idle node, after a snapshot it names in the output', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    const database = cluster.model.database?.identifier ?? '';
    // The lock's record as the migration is polled: a failover from then on holds new nodes to 2.0.0.
    let recordedSchema: string | null | undefined;
    const execution = await run({}, (event) => {
      if (event.type !== 'StateEntered' || event.state.name !== 'Check the migrations' || recordedSchema) return;
      void readLock(lockStore(), cluster.model.name).then((lock) => {
        recordedSchema = lock?.recovery?.migratedTo;
      });
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(recordedSchema).toBe('2.0.0');
    // The old version cannot run on the new schema: no old-version node may serve once it is migrated. The
    // migration runs on the active node once it is upgraded and idle, before traffic shifts back to it.
    expect(commandsOf(simulated)).toEqual([
      [UPGRADE, passive],
      [UPGRADE, active],
      [MIGRATE, active],
    ]);
    expect(simulated.commands[2]?.parameters).toEqual({ TargetVersion: ['2.0.0'] });
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe('2.0.0');
    const output = execution.output as UpgradeOutput;
    expect(output.migration?.invocations[0]?.outputTail).toBe(MIGRATION_OUTPUT);
    // The snapshot was available before the migration started, and is named after the execution.
    const snapshotId = output.databaseSnapshot?.snapshotId ?? '';
    expect(output.databaseSnapshot).toMatchObject({ database, available: true });
    expect(output.databaseSnapshot?.restoreWith).toContain(`--db-snapshot-identifier ${snapshotId}`);
    expect(snapshotId).toMatch(/^zerodown-test-cluster-/);
    expect(execution.path.indexOf('Snapshot the database')).toBeLessThan(
      execution.path.indexOf('Run the database migrations'),
    );
    expect(execution.path.indexOf('Done polling: the database snapshot to be available')).toBeLessThan(
      execution.path.indexOf('Run the database migrations'),
    );
    expect(output.pointOfNoReturn).toMatchObject({ step: 'Run the database migrations', snapshot: { snapshotId } });
    const snapshots = await snapshotsOf(database);
    expect(snapshots.map((snapshot) => snapshot.DBSnapshotIdentifier)).toEqual([snapshotId]);
    expect(snapshots[0]?.TagList).toEqual(
      expect.arrayContaining([
        { Key: 'zerodown:cluster', Value: 'test-cluster' },
        { Key: 'zerodown:execution', Value: execution.executionArn },
        { Key: 'zerodown:version', Value: '1.0.0' },
      ]),
    );
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('migrates first on the passive node when the old version runs on the new schema', async () => {
    const { cluster, simulated } = await prepare('active-passive', { customize: oldRunsOnNew });
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);

    let recordedSchema: string | null | undefined;
    const execution = await run({}, (event) => {
      if (event.type !== 'StateEntered' || event.state.name !== 'Check the migrations') return;
      void readLock(lockStore(), cluster.model.name).then((lock) => {
        recordedSchema = lock?.recovery?.migratedTo;
      });
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    // The old version runs on the new schema: nothing holds new nodes to the new one.
    expect(recordedSchema).toBeNull();
    expect(commandsOf(simulated)).toEqual([
      [MIGRATE, passive],
      [UPGRADE, passive],
      [UPGRADE, active],
    ]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('migrates an active/active cluster on the surge node, once it is out of service again', async () => {
    const { cluster, simulated } = await prepare('active-active');
    const [a, b] = cluster.model.nodes.map((node) => node.instanceId);

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const surge = simulated.commands.find((command) => command.documentName === MIGRATE)?.instanceIds[0];
    expect(surge).not.toBe(a);
    expect(surge).not.toBe(b);
    expect(commandsOf(simulated)).toEqual([
      [UPGRADE, a],
      [UPGRADE, b],
      [MIGRATE, surge],
    ]);
    expect(execution.path.indexOf('Take the surge node out of service')).toBeLessThan(
      execution.path.indexOf('Run the database migrations'),
    );
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('upgrades an active/active cluster without migrations when asked', async () => {
    const { cluster, simulated } = await prepare('active-active');

    const execution = await run({ migrate: false });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands.map((command) => command.documentName)).toEqual([UPGRADE, UPGRADE]);
    expect(execution.path).not.toContain('Snapshot the database');
    expect(await snapshotsOf(cluster.model.database?.identifier ?? '')).toEqual([]);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('bakes the image an earlier upgrade could not, when run again with the version the nodes run and no migration', async () => {
    // An upgrade to 2.0.0 changed every node, but its bake failed: the image parameter still names 1.0.0's image.
    const { cluster, simulated } = await prepare('active-passive');
    for (const node of cluster.model.nodes) {
      const served = simulated.nodes.get(node.instanceId);
      if (served) served.version = '2.0.0';
    }
    const baking = await enableBaking(cluster);
    await tagImageVersion(cluster.model.region, cluster.imageId, '1.0.0');
    // moto cannot tag an image at CreateImage: the functions' client does what EC2 does (see motoImageEc2).
    withMotoImageTagging(ec2Client);
    try {
      const execution = await run({ version: '2.0.0', migrate: false });

      expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
      // The surge node booted 1.0.0 and got the upgrade before it stood by; no migration ran.
      expect(execution.path).toContain('Upgrade the lagging surge node');
      expect(execution.path).not.toContain('Run the database migrations');
      const { Parameter } = await ssmClient.send(new GetParameterCommand({ Name: IMAGE_PARAMETER }));
      expect(Parameter?.Value).not.toBe(baking.originalImageId);
      const { Images = [] } = await ec2Client.send(new DescribeImagesCommand({ ImageIds: [Parameter?.Value ?? ''] }));
      expect(Images[0]?.Tags).toContainEqual({ Key: 'zerodown:version', Value: '2.0.0' });
    } finally {
      withoutMotoImageTagging(ec2Client);
    }
  });

  it('rolls back as before when a node fails before the migrations: no snapshot, no migration', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    // moto runs no commands; the failure is injected.
    failedCommand(passive, { output: 'upgrade failed: disk full', responseCode: 2 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the upgrade of the passive node failed: .*disk full/);
    expect(simulated.commands.map((command) => command.documentName)).toEqual([UPGRADE]);
    expect(execution.path).not.toContain('Roll back: note the point of no return');
    expect(await snapshotsOf(cluster.model.database?.identifier ?? '')).toEqual([]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('keeps traffic on the upgraded nodes when the migration itself fails, and names the snapshot', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const active = cluster.model.nodes[0]?.instanceId ?? '';
    failMigration(simulated, active);
    const published = await topicEvents();

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the migrations failed: .*relation "api_revision" already exists/);
    // Both nodes run 2.0.0; the traffic stays on the passive node, where the upgrade put it, not shifted back.
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe('2.0.0');
    const told = stateAfter(execution, 'Roll back: say the migration stays');
    const [snapshot] = await snapshotsOf(cluster.model.database?.identifier ?? '');
    expect(told?.rollback?.pointOfNoReturn).toMatchObject({
      reason: expect.stringContaining('cannot go back'),
      snapshot: { snapshotId: snapshot?.DBSnapshotIdentifier },
      keptWeights: { a: 0, b: 100, surge: 0 },
    });
    const events = await published();
    expect(events.find((event) => event.outcome === 'attention')).toMatchObject({
      step: 'Failed past the point of no return',
      detail: { snapshot: { snapshotId: snapshot?.DBSnapshotIdentifier } },
    });
    // The failure's own report names the snapshot too, for an operator who reads only that one.
    expect(events.find((event) => event.outcome === 'rolled-back')).toMatchObject({
      step: 'Check the migrations',
      detail: { pointOfNoReturn: { snapshot: { snapshotId: snapshot?.DBSnapshotIdentifier } } },
    });
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('rolls forward when a node fails after the migrations: the upgraded node keeps the traffic', async () => {
    const { cluster, simulated } = await prepare('active-passive', { customize: oldRunsOnNew });
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    // The other node's upgrade fails, after the migrations and the shift to the upgraded passive node.
    failedCommand(active ?? '', { output: 'upgrade failed: disk full', responseCode: 2 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the upgrade of the other node failed/);
    expect(simulated.nodes.get(passive ?? '')?.version).toBe('2.0.0');
    const told = stateAfter(execution, 'Roll back: say the migration stays');
    expect(told?.rollback?.pointOfNoReturn?.snapshot.snapshotId).toMatch(/^zerodown-test-cluster-/);
    // Before the point of no return the rollback would put the traffic back on the active node; now it stays.
    await expectCleanCluster(cluster, 'a=0, b=100, surge=0');
  });

  it('stops on the last safe weights when an active/active node fails after the migrations', async () => {
    const { cluster, simulated } = await prepare('active-active', { customize: oldRunsOnNew });
    const second = cluster.model.nodes[1]?.instanceId ?? '';
    failedCommand(second, { output: 'upgrade failed', responseCode: 2 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(simulated.commands[0]?.documentName).toBe(MIGRATE);
    // The failed node stays out; the surge node keeps serving in its place, as the last safe weights had it.
    expect(await weights(cluster)).toBe('a=50, b=0, surge=50');
    expect(stateAfter(execution, 'Roll back: say the migration stays')?.rollback?.pointOfNoReturn).toMatchObject({
      keptWeights: { a: 50, b: 0, surge: 50 },
    });
  });

  it('migrates without a snapshot when the model names no database, and says so in the plan', async () => {
    const { simulated } = await prepare('active-passive', { customize: withoutDatabase });

    const plan = (await run({ dryRun: true })).output as unknown as RolloutPlan;
    expect(plan.migration?.snapshot).toBeNull();
    expect(plan.order).toContain('no snapshot');

    const execution = await run({});
    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('No database to snapshot');
    expect(simulated.commands.map((command) => command.documentName)).toContain(MIGRATE);
  });

  it('shows the snapshot and the point of no return in the dry run, touching nothing', async () => {
    const { cluster, simulated } = await prepare('active-passive');

    const execution = await run({ dryRun: true });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const plan = execution.output as unknown as RolloutPlan;
    expect(plan.migration).toMatchObject({
      order: 'last',
      snapshot: { identifier: cluster.model.database?.identifier },
    });
    expect(plan.order).toMatch(/migrations run last/);
    expect(plan.order).toContain('is the point of no return');
    const steps = plan.steps.map((step) => step.step);
    expect(steps.indexOf('Snapshot the database')).toBe(steps.indexOf('Run the database migrations') - 1);
    expect(steps.indexOf('Verify the other node')).toBeLessThan(steps.indexOf('Snapshot the database'));
    expect(plan.steps.find((step) => step.step === 'Run the database migrations')).toMatchObject({
      pointOfNoReturn: true,
      instanceId: cluster.model.nodes[0]?.instanceId,
    });
    expect(simulated.commands).toEqual([]);
    expect(await snapshotsOf(cluster.model.database?.identifier ?? '')).toEqual([]);
  });

  it('refuses a request without a version before touching anything', async () => {
    await prepare('active-passive');
    const execution = await run({ version: undefined });
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.cause).toContain('version is required');
    expect(execution.path).toEqual(['Validate the request']);
  });
});
