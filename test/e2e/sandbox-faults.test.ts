import { outcome, processesUsing, removeWorkDir, runSandbox, writeScenario } from './sandbox-cli';

describe('sandbox: faults', () => {
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
