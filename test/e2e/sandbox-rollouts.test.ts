import { outcome, processesUsing, removeWorkDir, runSandbox, scenarioFile } from './sandbox-cli';

/** The sandbox under live traffic: each run is a real scenario through the CLI, as a user starts it. */
describe('sandbox: patch and upgrade under load', () => {
  it('runs the demo: patch-server on active/passive, 2,000+ requests, none failed, both nodes patched', async () => {
    const run = await runSandbox(scenarioFile('demo'));

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    const report = run.report;
    expect(report?.executions.map((execution) => execution.status)).toEqual(['SUCCEEDED']);
    expect(report?.requests.failed).toBe(0);
    expect(report?.requests.total).toBeGreaterThanOrEqual(2000);
    expect(report?.finalState.nodes.map((node) => node.version)).toEqual(['1.0.0-P42', '1.0.0-P42']);
    expect(report?.finalState.nodes.map((node) => node.weight)).toEqual([100, 0]);
    expect(report?.finalState).toMatchObject({ lockHeld: false, surgeNodes: 0 });
    expect(report?.minHealthyCapacityPercent).toBe(100);
    // Both nodes served during the run: traffic moved to the patched passive node and back.
    expect(Object.keys(report?.requestsByNode ?? {}).length).toBeGreaterThanOrEqual(2);
    expect(run.stdout).toContain('patch-server › Shift traffic to the patched node');
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  }, 240_000);

  it('patches active/active behind the surge node with no failed request', async () => {
    const run = await runSandbox(scenarioFile('patch-active-active'));

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    expect(run.report?.requests.failed).toBe(0);
    expect(run.report?.finalState.nodes.map((node) => [node.version, node.weight])).toEqual([
      ['1.0.0-P42', 50],
      ['1.0.0-P42', 50],
    ]);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  }, 240_000);

  it('upgrades with the database migration first, and no failed request', async () => {
    const run = await runSandbox(scenarioFile('upgrade-version'));

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    expect(run.report?.requests.failed).toBe(0);
    expect(run.report?.finalState.schemaVersion).toBe('2.0.0');
    expect(run.report?.finalState.nodes.map((node) => node.version)).toEqual(['2.0.0', '2.0.0']);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  }, 240_000);

  it('rolls back when the second node fails after the traffic moved: traffic back on the unchanged node', async () => {
    const run = await runSandbox(scenarioFile('patch-second-node-fails'));

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    expect(run.report?.requests.failed).toBe(0);
    // The passive node was patched and verified; the active one never changed, and the snapshot weights are back.
    expect(run.report?.finalState.nodes.map((node) => [node.role, node.version, node.weight])).toEqual([
      ['manager', '1.0.0', 100],
      ['worker', '1.0.0-P42', 0],
    ]);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  }, 240_000);
});
