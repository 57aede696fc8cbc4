import { passingRun, SANDBOX_TEST_LIMIT_MS } from './sandbox-cli';

// Each test is one sandbox run, with the run's generous limit (see sandbox-cli.ts).
jest.setTimeout(SANDBOX_TEST_LIMIT_MS);

/**
 * Upgrades under live traffic on a shared database whose schema the old version cannot run on: the sandbox's nodes
 * refuse to serve (503) on a schema newer than their version, so any old-version node left with traffic after the
 * migration would fail requests.
 */
describe('sandbox: upgrades and the database', () => {
  it('upgrades on a schema the old version cannot run on, with no failed request', async () => {
    const { report } = await passingRun('upgrade-incompatible-schema');

    expect(report.executions[0]).toMatchObject({ status: 'SUCCEEDED' });
    expect(report.requests.failed).toBe(0);
    expect(report.finalState.nodes.map((node) => node.version)).toEqual(['2.0.0', '2.0.0']);
    expect(report.finalState.schemaVersion).toBe('2.0.0');
    expect(report.finalState.database?.snapshots).toEqual([expect.objectContaining({ status: 'available' })]);
    const states = report.executions[0]?.states.map((state) => state.name) ?? [];
    // The migration ran once every node was upgraded, and before traffic shifted back.
    expect(states.indexOf('Run the database migrations')).toBeGreaterThan(states.indexOf('Verify the other node'));
    expect(states.indexOf('Run the database migrations')).toBeLessThan(states.indexOf('Shift traffic back'));
  });

  it('keeps the traffic on the new version when a failure comes after the migration, and names the snapshot', async () => {
    const { report } = await passingRun('upgrade-fails-after-migration');

    expect(report.executions[0]).toMatchObject({ status: 'FAILED' });
    const states = report.executions[0]?.states.map((state) => state.name) ?? [];
    expect(states).toContain('Roll back: say the migration stays');
    // The node serving traffic runs 2.0.0 on the migrated schema; nothing was sent back to an old version.
    const serving = report.finalState.nodes.filter((node) => node.weight > 0);
    expect(serving.map((node) => node.version)).toEqual(['2.0.0']);
    expect(report.finalState.schemaVersion).toBe('2.0.0');
    expect(report.finalState.database?.snapshots).toHaveLength(1);
  });
});
