import { passingRun, SANDBOX_TEST_LIMIT_MS } from './sandbox-cli';

// Each test is one sandbox run, with the run's generous limit (see sandbox-cli.ts).
jest.setTimeout(SANDBOX_TEST_LIMIT_MS);

/**
 * The sandbox under live traffic: each run is a shipped scenario through the CLI, as a user starts it. Every run must
 * meet its scenario's expectations with no failed request, the lock free, no surge node and no process left behind.
 */
describe('sandbox: patch and upgrade under load', () => {
  it('runs the demo: patch-server on active/passive, 2,000+ requests, none failed, both nodes patched', async () => {
    const { report, stdout } = await passingRun('demo');

    const byScenario = report.executions.filter((execution) => execution.trigger === 'scenario');
    expect(byScenario.map((execution) => execution.status)).toEqual(['SUCCEEDED']);
    // A patched node restarts: its peer sees it go, and it misses heartbeats. A failover its peer, its alarm or the
    // alarm's re-check starts finds the node back already, or leaves it to the patch that took it out of service: it
    // never moves anything.
    for (const failover of report.executions.filter((execution) => execution.workflow === 'failover')) {
      expect(failover.states.at(-1)?.name).toMatch(
        /^No failover: the node (answered|answered the re-check|is out of service for maintenance)$/,
      );
    }
    expect(report.requests.total).toBeGreaterThanOrEqual(2000);
    expect(report.finalState.nodes.map((node) => [node.version, node.weight])).toEqual([
      ['1.0.0-P42', 100],
      ['1.0.0-P42', 0],
    ]);
    expect(report.minHealthyCapacityPercent).toBe(100);
    // Both nodes served during the run: traffic moved to the patched passive node and back.
    expect(Object.keys(report.requestsByNode).length).toBeGreaterThanOrEqual(2);
    expect(stdout).toContain('patch-server › Shift traffic to the patched node');
  });

  it('patches active/active behind the surge node', async () => {
    const { report } = await passingRun('patch-active-active');

    expect(report.finalState.nodes.map((node) => [node.version, node.weight])).toEqual([
      ['1.0.0-P42', 50],
      ['1.0.0-P42', 50],
    ]);
  });

  it('rolls back when the second node fails after the traffic moved: traffic back on the unchanged node', async () => {
    const { report } = await passingRun('patch-second-node-fails');

    expect(report.executions[0]).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    // The passive node was patched and verified; the active one never changed, and the snapshot weights are back.
    expect(report.finalState.nodes.map((node) => [node.role, node.version, node.weight])).toEqual([
      ['worker', '1.0.0', 100],
      ['manager', '1.0.0-P42', 0],
    ]);
  });

  it('rolls back a patch whose node does not report the requested version, before it takes traffic', async () => {
    const { report } = await passingRun('patch-wrong-version');

    expect(report.executions[0]).toMatchObject({ status: 'FAILED', error: 'VersionMismatchError' });
    expect(report.finalState.nodes.map((node) => [node.role, node.version, node.weight])).toEqual([
      ['worker', '1.0.0', 100],
      ['manager', '1.0.0-P42', 0],
    ]);
  });
});
