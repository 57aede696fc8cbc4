import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { loadClusterModel } from '../../functions/aws/ssm';
import { readLock } from '../../functions/domain/lock';
import { ROLE_TAG_KEY } from '../../functions/domain/tags';
import { launchSurgeNode } from '../../functions/operations/launch-surge-node';
import { sendCommand } from '../../functions/operations/run-command';
import type { FakeNode } from '../../local/fake-nodes';
import { unfinishedCommands, unhealthyTarget } from '../../local/faults';
import type { LocalExecutionResult } from '../../local/local-sfn';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { enableBaking, tagImageVersion } from '../harness/image-fixture';
import { useMoto } from '../harness/moto';
import { topicEvents } from '../harness/topic-events';
import { workflowFixture } from '../harness/workflow-fixture';

const DETECTED_AT = '2026-11-26T04:00:00Z';
const UPGRADE = 'zerodown-test-upgrade';

interface UnderLock {
  currentVersion: string | null;
  standby: string;
  adopt: boolean;
  staleStandbys: { instanceId: string; version: string | null }[];
  leftoverSurgeNodes: string[];
}

describe('failover: the version of the node that takes the slot', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  /** Whether the upgrade command does what it says on a node (the test's nodes run no documents). */
  let upgradeWorks = true;
  const { lockStore, holdLock, prepare, run, weights, failureOf } = workflowFixture({
    stateMachine: 'failover',
    defaultInput: { slot: 'a', alarmName: 'zerodown-test-cluster-node-a-lost', detectedAt: DETECTED_AT },
    onCommand: (command, node) => {
      if (command.documentName === UPGRADE && upgradeWorks) node.version = command.parameters.TargetVersion?.[0] ?? '';
      return undefined;
    },
  });
  beforeEach(() => {
    upgradeWorks = true;
  });
  const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };

  /** The node stops answering its health checks, and the load balancer sees its target fail too. */
  function kill(simulated: SimulatedNodes, instanceId: string) {
    const node = simulated.nodes.get(instanceId);
    if (node) node.healthStatus = 503;
    unhealthyTarget(instanceId);
  }

  /** The simulated node of a launched instance, once it answers (it starts serving just after RunInstances). */
  async function served(simulated: SimulatedNodes, instanceId: string): Promise<FakeNode> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const node = simulated.nodes.get(instanceId);
      if (node) return node;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${instanceId} never answered`);
  }

  /** A surge node launched by a running workflow that holds the lock, reporting `version`. */
  async function standbyOf(simulated: SimulatedNodes, owner: string, cluster: MotoCluster, version: string) {
    const { instanceId } = await launchSurgeNode(clients, cluster.model, owner);
    (await served(simulated, instanceId)).version = version;
    return instanceId;
  }

  function setVersion(simulated: SimulatedNodes, version: string, instanceIds: readonly string[]) {
    for (const id of instanceIds) {
      const node = simulated.nodes.get(id);
      if (!node) throw new Error(`${id} is not simulated`);
      node.version = version;
    }
  }

  async function stateOf(instanceId: string) {
    const response = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = response.Reservations?.[0]?.Instances?.[0];
    const tags = Object.fromEntries((instance?.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    return { state: instance?.State?.Name, role: tags[ROLE_TAG_KEY] };
  }

  /** The instance the execution launched as the replacement, from the output of the launch step. */
  function launchedBy(execution: LocalExecutionResult): string {
    const exited = execution.events.find(
      (event) => event.type === 'StateExited' && event.state.name === 'Launch the replacement node',
    );
    const output = exited && 'state' in exited ? (exited.state.output as { surge?: { instanceId?: string } }) : {};
    return output.surge?.instanceId ?? '';
  }

  const underLockOf = (execution: LocalExecutionResult) =>
    (execution.output as unknown as { underLock: UnderLock }).underLock;

  it('brings a replacement booted from a stale image to the survivors’ version with the upgrade command', async () => {
    // An upgrade to 2.0.0 changed both nodes and was then stopped (or its bake failed): the image is still 1.0.0's.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    setVersion(simulated, '2.0.0', [active ?? '', passive ?? '']);
    await enableBaking(cluster);
    await tagImageVersion(cluster.model.region, cluster.imageId, '1.0.0');
    kill(simulated, active ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    const replacement = launchedBy(execution);
    expect(execution.output).toMatchObject({
      underLock: { replacementVersion: '2.0.0', replacementCatchUp: { kind: 'upgrade', input: '2.0.0' } },
    });
    // Upgraded while it carried no traffic, verified again, and only then adopted.
    const upgrades = simulated.commands.filter((command) => command.documentName === UPGRADE);
    expect(upgrades.map((command) => [command.instanceIds, command.parameters.TargetVersion])).toEqual([
      [[replacement], ['2.0.0']],
    ]);
    const at = (state: string) => execution.path.indexOf(state);
    expect(at('Verify the caught-up replacement node')).toBeLessThan(at('Adopt the replacement into the slot'));
    expect(simulated.nodes.get(replacement)?.version).toBe('2.0.0');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.find((node) => node.slot === 'a')?.instanceId).toBe(replacement);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
  });

  it('fails a replacement the upgrade cannot bring level before it is adopted, and keeps the traffic on the survivor', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    // The survivors report 1.0.0; the image the surge image parameter names was baked from a node of 0.9.0, and the
    // upgrade command leaves the node on the version it had.
    upgradeWorks = false;
    await enableBaking(cluster);
    await tagImageVersion(cluster.model.region, cluster.imageId, '0.9.0');
    kill(simulated, active ?? '');
    const published = await topicEvents();

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
    expect(execution.cause).toMatch(
      /^Verify the caught-up replacement node failed: .*expected 1\.0\.0, reports 0\.9\.0/,
    );
    expect(execution.path).toContain('Verify the replacement node');
    expect(execution.path).not.toContain('Adopt the replacement into the slot');
    expect(execution.path.at(-1)).toBe('Fail after rolling back');
    // The traffic had moved before the launch, and the rollback of a failover has no weights to restore.
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    // Not adopted: the slot and the membership still name the lost node, which is not marked lost.
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([active, passive]);
    expect((await stateOf(active ?? '')).role).not.toBe('lost');
    // The rollback path deregisters and terminates the launched node, as it does any replacement that fails.
    const stale = launchedBy(execution);
    expect(stale).toMatch(/^i-/);
    expect(execution.path).toContain('Roll back: terminate the surge node');
    expect((await stateOf(stale)).state).toMatch(/^(shutting-down|terminated)$/);
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
    const events = await published();
    expect(events).toContainEqual(
      expect.objectContaining({
        step: 'Traffic moved off the lost node',
        detail: expect.objectContaining({ currentVersion: '1.0.0', staleStandbys: [] }),
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        outcome: 'rolled-back',
        step: 'Verify the caught-up replacement node',
        error: expect.objectContaining({ name: 'VersionMismatchError' }),
      }),
    );
  });

  it('launches a replacement rather than adopt a standby of an older version, and retires the standby', async () => {
    // An upgrade to 2.0.0 is under way: its surge node still runs 1.0.0, the image was baked again from 2.0.0.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    setVersion(simulated, '2.0.0', [active ?? '', passive ?? '']);
    await enableBaking(cluster);
    const upgrade = await holdLock('upgrade-version', 'upgrading', { outOfService: [] });
    const standby = await standbyOf(simulated, upgrade, cluster, '1.0.0');
    await tagImageVersion(cluster.model.region, cluster.imageId, '2.0.0');
    kill(simulated, active ?? '');
    const published = await topicEvents();

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(underLockOf(execution)).toMatchObject({
      currentVersion: '2.0.0',
      standby: '',
      adopt: false,
      staleStandbys: [{ instanceId: standby, version: '1.0.0' }],
      leftoverSurgeNodes: [standby],
    });
    expect(execution.path).not.toContain('Take the standby surge node as the replacement');
    expect(execution.path).toContain('Launch the replacement node');
    expect(execution.path).toContain('Terminate a leftover surge node');
    // The stale standby never took traffic, and the replacement of the right version holds the slot.
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    const replacement = model.nodes.find((node) => node.slot === 'a')?.instanceId ?? '';
    expect(replacement).toBe(launchedBy(execution));
    expect(replacement).not.toBe(standby);
    expect(simulated.nodes.get(replacement)?.version).toBe('2.0.0');
    expect((await stateOf(standby)).state).toMatch(/^(shutting-down|terminated)$/);
    expect(await findSurgeNodes(ec2Client, model)).toEqual([]);
    expect(await readLock(lockStore(), 'test-cluster')).toBeUndefined();
    const moved = (await published()).find((event) => event.step === 'Traffic moved off the lost node');
    expect(moved?.detail).toMatchObject({
      standby: '',
      currentVersion: '2.0.0',
      staleStandbys: [{ instanceId: standby, version: '1.0.0' }],
    });
  });

  it('holds neither a standby nor a replacement to a version when new nodes boot a fixed image id', async () => {
    // A fixed image stays on the version it was built with, so its nodes are never compared (as in the rollouts): the
    // standby left by an upgrade under way is adopted, as a replacement from the same image would be.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    setVersion(simulated, '2.0.0', [active ?? '', passive ?? '']);
    const upgrade = await holdLock('upgrade-version', 'upgrading', { outOfService: [] });
    const standby = await standbyOf(simulated, upgrade, cluster, '1.0.0');
    kill(simulated, active ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(underLockOf(execution)).toMatchObject({ currentVersion: '2.0.0', standby, adopt: true, staleStandbys: [] });
    expect(execution.output).toMatchObject({ underLock: { replacementVersion: null, replacementCatchUp: null } });
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([standby, passive]);
  });

  /**
   * upgrade-version to 2.0.0 ran its migrations last (the old version cannot run on the new schema) and is baking the
   * idle node's image, which reboots it: the record names it out of service and the schema as 2.0.0's. The serving
   * node dies then, with a standby of `standbyVersion` up.
   */
  async function migratedAndBakingWhenTheActiveDies(standbyVersion: string) {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    setVersion(simulated, '2.0.0', [active ?? '', passive ?? '']);
    const upgrade = await holdLock('upgrade-version', 'baking', { outOfService: [passive ?? ''], migratedTo: '2.0.0' });
    const standby = await standbyOf(simulated, upgrade, cluster, standbyVersion);
    kill(simulated, active ?? '');
    kill(simulated, passive ?? '');
    return { cluster, standby };
  }

  it('never gives an old-version standby the traffic once a pre-empted upgrade migrated the schema past it', async () => {
    // The standby, left on 1.0.0 and healthy, is no survivor to compare with.
    const { cluster, standby } = await migratedAndBakingWhenTheActiveDies('1.0.0');

    const execution = await run({});

    // Nothing may take the traffic: the guard refuses rather than let the old version serve the new schema.
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CapacityGuardError' });
    const workedOut = execution.events.find(
      (event) => event.type === 'StateExited' && event.state.name === 'Work out the move under the lock',
    );
    const state = workedOut && 'state' in workedOut ? (workedOut.state.output as { underLock?: object }) : {};
    expect(state.underLock).toMatchObject({
      currentVersion: null,
      replacementVersion: '2.0.0',
      standby: '',
      adopt: false,
      staleStandbys: [{ instanceId: standby, version: '1.0.0' }],
    });
    expect(await weights(cluster)).not.toMatch(/surge=[1-9]/);
  });

  it('takes a standby of the version the migrated schema needs when no survivor answers', async () => {
    const { cluster, standby } = await migratedAndBakingWhenTheActiveDies('2.0.0');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(underLockOf(execution)).toMatchObject({ currentVersion: null, standby, adopt: true });
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.find((node) => node.slot === 'a')?.instanceId).toBe(standby);
  });

  it('neither adopts nor retires a surge node that a pre-empted upgrade is migrating on', async () => {
    // An active/active upgrade to 2.0.0 migrates last, on its surge node (still 1.0.0, out of service again), when a
    // node is lost. Terminating it would cut the migration half-way; adopting it would give the slot a busy node.
    const { cluster, simulated } = await prepare('active-active');
    const [lost, other] = cluster.model.nodes.map((node) => node.instanceId);
    setVersion(simulated, '2.0.0', [lost ?? '', other ?? '']);
    const upgrade = await holdLock('upgrade-version', 'migrating', { outOfService: [], migratedTo: '2.0.0' });
    const surge = await standbyOf(simulated, upgrade, cluster, '1.0.0');
    const migration = await sendCommand(ssmClient, cluster.model, {
      kind: 'migrate',
      instanceIds: [surge],
      input: '2.0.0',
      idempotencyKey: `${upgrade}#migrate`,
    });
    // moto ends every command at once: here every listed command is still running, and a cancel is answered.
    const { cancelled } = unfinishedCommands();
    kill(simulated, lost ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(cancelled).not.toContain(migration.commandId);
    expect(execution.output).toMatchObject({
      cancelled: { leftRunning: [expect.objectContaining({ commandId: migration.commandId })] },
    });
    expect(underLockOf(execution)).toMatchObject({ standby: '', adopt: false, leftoverSurgeNodes: [] });
    expect((await stateOf(surge)).state).toBe('running');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.find((node) => node.slot === 'a')?.instanceId).not.toBe(surge);
  });

  it('adopts a standby that reports the survivors’ version', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    const patch = await holdLock('patch-server', 'patching', { outOfService: [] });
    const standby = await standbyOf(simulated, patch, cluster, '1.0.0');
    kill(simulated, active ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(underLockOf(execution)).toMatchObject({
      currentVersion: '1.0.0',
      standby,
      adopt: true,
      staleStandbys: [],
      leftoverSurgeNodes: [],
    });
    expect(execution.path).toContain('Take the standby surge node as the replacement');
    expect(execution.path).not.toContain('Launch the replacement node');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([standby, passive]);
    expect(await weights(cluster)).toBe('a=0, b=100, surge=0');
  });

  it('takes the standby whatever it reports when no survivor answers, as mid-upgrade', async () => {
    // The upgrade took b out of service; its surge node runs the new version; a, still on the old one, is lost.
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);
    const upgrade = await holdLock('upgrade-version', 'upgrading-b', { outOfService: [passive ?? ''] });
    setVersion(simulated, '2.0.0', [passive ?? '']);
    const standby = await standbyOf(simulated, upgrade, cluster, '2.0.0');
    kill(simulated, active ?? '');

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(underLockOf(execution)).toMatchObject({
      currentVersion: null,
      standby,
      adopt: true,
      staleStandbys: [],
    });
    expect(execution.path).not.toContain('Launch the replacement node');
    // The node the upgrade left out of service is verified without a version, and serves again as the passive node.
    expect(execution.path).toContain('Give the verified node its traffic back');
    const model = await loadClusterModel(ssmClient, cluster.model.name);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([standby, passive]);
    expect(await weights(cluster)).toBe('a=100, b=0, surge=0');
  });
});
