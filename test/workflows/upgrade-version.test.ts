import { failedCommand } from '../../local/faults';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

const MIGRATION_OUTPUT = 'Applied V12__add_api_revision.sql, V13__drop_legacy_tokens.sql';

describe('upgrade-version', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  // The migrate document reports the scripts it applied; the upgrade document installs and restarts the version.
  const { prepare, run, expectCleanCluster, failureOf } = workflowFixture({
    stateMachine: 'upgrade-version',
    defaultInput: { version: '2.0.0' },
    onCommand: (command, node) => {
      if (command.documentName === 'zerodown-test-migrate') return MIGRATION_OUTPUT;
      if (command.documentName === 'zerodown-test-upgrade') node.version = command.parameters.TargetVersion?.[0] ?? '';
      return undefined;
    },
  });

  it('runs the migrations once on the first node, then upgrades every node, keeping the migration output', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const [active, passive] = cluster.model.nodes.map((node) => node.instanceId);

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands.map((command) => [command.documentName, command.instanceIds[0]])).toEqual([
      ['zerodown-test-migrate', passive],
      ['zerodown-test-upgrade', passive],
      ['zerodown-test-upgrade', active],
    ]);
    expect(simulated.commands[0]?.parameters).toEqual({ TargetVersion: ['2.0.0'] });
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe('2.0.0');
    const output = execution.output as { migration?: { invocations: { outputTail: string }[] } };
    expect(output.migration?.invocations[0]?.outputTail).toBe(MIGRATION_OUTPUT);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('upgrades an active/active cluster behind the surge node', async () => {
    const { cluster, simulated } = await prepare('active-active');

    const execution = await run({ migrate: false });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands.map((command) => command.documentName)).toEqual([
      'zerodown-test-upgrade',
      'zerodown-test-upgrade',
    ]);
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('rolls back when a migration fails, before any node is upgraded', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const passive = cluster.model.nodes[1]?.instanceId ?? '';
    // moto runs no commands; the failure is injected.
    failedCommand(passive, { output: 'ERROR: relation "api_revision" already exists', responseCode: 3 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the migrations failed: .*relation "api_revision" already exists/);
    expect(simulated.commands.map((command) => command.documentName)).toEqual(['zerodown-test-migrate']);
    for (const node of cluster.model.nodes) expect(simulated.nodes.get(node.instanceId)?.version).toBe('1.0.0');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('refuses a request without a version before touching anything', async () => {
    await prepare('active-passive');
    const execution = await run({ version: undefined });
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.cause).toContain('version is required');
    expect(execution.path).toEqual(['Validate the request']);
  });
});
