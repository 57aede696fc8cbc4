import {
  outcome,
  passingRun,
  processesUsing,
  removeWorkDir,
  runSandbox,
  scenarioFile,
  writeScenario,
} from './sandbox-cli';

describe('sandbox: faults', () => {
  it('fails over when the active node dies: its alarm starts failover and a replacement ends as the passive node', async () => {
    const run = await runSandbox(scenarioFile('failover'));

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    const failover = run.report?.failover;
    const floor = failover?.detectionFloorSeconds ?? 0;
    // CloudWatch judges a period once it is over, so no loss is detected before the floor. The scenario's own
    // expectations hold the orchestration (alarm to traffic moved) under 2 s; `npm run bench` prints the timeline.
    expect(failover?.detectionSeconds).toBeGreaterThanOrEqual(floor);
    expect(failover?.orchestrationSeconds).not.toBeNull();
    expect(failover?.failedRequests).toBeGreaterThan(0);
    expect(failover?.failedOutsideWindow).toBe(0);
    const nodes = run.report?.finalState.nodes ?? [];
    const manager = nodes.find((node) => node.role === 'manager');
    expect(nodes.every((node) => node.healthy)).toBe(true);
    expect(manager?.weight).toBe(0);
    expect(nodes.find((node) => node.role === 'worker')?.weight).toBe(100);
    expect(run.report?.awsCalls['ec2:RunInstances']).toBe(3); // the two nodes, then the replacement
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  }, 300_000);

  it('drills a region failover under load: the DR site boots and passes, its RTO is measured, it is torn down', async () => {
    const run = await passingRun('region-drill');

    const drill = run.report.executions[0];
    // The DR nodes boot in 60 scenario seconds: the RTO cannot be shorter. `npm run bench` prints the figure.
    expect(drill?.rtoSeconds).toBeGreaterThanOrEqual(60);
    expect(run.report.awsCalls['ec2:RunInstances']).toBe(4); // the two nodes, then the two DR nodes
    expect(run.report.awsCalls['ec2:TerminateInstances']).toBeGreaterThanOrEqual(1);
    expect(run.report.awsCalls['route53:ChangeResourceRecordSets']).toBe(1); // creating the records; a drill moves none
  }, 300_000);

  it('fails over to the DR region and back under load: clients follow DNS as the records in moto answer it', async () => {
    const run = await passingRun('region-failover');

    const [failover, failback] = run.report.executions;
    expect(failover?.rtoSeconds).toBeGreaterThanOrEqual(60);
    expect(failback?.status).toBe('SUCCEEDED');
    // The active node and the two DR nodes served, the DR nodes while DNS pointed at the DR region.
    const serving = Object.entries(run.report.requestsByNode).filter(([, count]) => count > 0);
    expect(serving).toHaveLength(3);
    expect(run.report.awsCalls['route53:ChangeResourceRecordSets']).toBe(3); // the records' creation, there and back
    expect(run.report.awsCalls['ec2:TerminateInstances']).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it('refuses to patch when the passive node fails its health checks, before touching anything', async () => {
    const { file, remove } = writeScenario({
      name: 'the passive node is unhealthy',
      load: { requestsPerSecond: 50, maxDurationSeconds: 60 },
      steps: [
        { at: 0, fault: 'unhealthy', target: 'worker' },
        { at: 30, start: 'patch-server', input: { patchId: 'P42' } },
      ],
      expect: { executions: ['FAILED'], error: 'InputValidationError', maxFailedRequests: 0, finalVersion: '1.0.0' },
    });

    const run = await runSandbox(file);

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    expect(run.report?.executions[0]?.cause).toMatch(/is not healthy enough to patch/);
    expect(run.report?.awsCalls['ec2:RunInstances']).toBe(2);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
    remove();
  }, 240_000);

  it('waits for a surge node that boots slowly, and still patches with no failed request', async () => {
    const { file, remove } = writeScenario({
      name: 'the surge node boots slowly',
      load: { requestsPerSecond: 50, maxDurationSeconds: 150 },
      steps: [
        { at: 0, fault: 'slow-boot' },
        { at: 10, start: 'patch-server', input: { patchId: 'P42', version: '1.0.0-P42' } },
      ],
      expect: { executions: ['SUCCEEDED'], maxFailedRequests: 0, finalVersion: '1.0.0-P42', surgeNodesLeft: 0 },
    });

    const run = await runSandbox(file);

    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    const polls = run.report?.executions[0]?.states.filter(
      (state) => state.name === 'Check whether the surge node is ready',
    );
    // Booting takes 5 times as long: 100 scenario seconds, 10 between polls.
    expect(polls?.length).toBeGreaterThan(5);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
    remove();
  }, 240_000);
});
