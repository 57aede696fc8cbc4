import {
  passingRun,
  processesUsing,
  removeWorkDir,
  runSandbox,
  SANDBOX_TEST_LIMIT_MS,
  scenarioFile,
  writeScenario,
} from './sandbox-cli';

// Each test is one sandbox run, with the run's generous limit (see sandbox-cli.ts).
jest.setTimeout(SANDBOX_TEST_LIMIT_MS);

describe('sandbox: services, rollback and clean-up', () => {
  it('deploys a new service on the manager, and file sync carries it to the worker', async () => {
    const { report } = await passingRun('deploy-service');

    for (const node of report.finalState.nodes) {
      expect(node.services).toEqual(['orders-api s3://apim-artifacts/orders-api/1.4.0/orders-api.car']);
    }
  });

  it('hotfixes a deployed service on the manager, then on the worker by sync', async () => {
    const { report, stdout } = await passingRun('update-service');

    for (const node of report.finalState.nodes) {
      expect(node.services).toEqual(['orders-api s3://apim-artifacts/orders-api/1.4.1/orders-api.car']);
    }
    expect(stdout).toContain('update-service › Pause file sync on the manager node');
    // The manager is the passive node: the hotfix goes to it with no shift, and traffic moves only once it passed.
    expect(stdout).not.toContain('update-service › Take the manager node out of service');
    expect(stdout.indexOf('update-service › Deploy the hotfix on the manager node')).toBeGreaterThan(-1);
    expect(stdout.indexOf('update-service › Deploy the hotfix on the manager node')).toBeLessThan(
      stdout.indexOf('update-service › Shift traffic to the updated manager node'),
    );
  });

  it('rolls back a patch that fails on the first node: versions unchanged', async () => {
    const { report } = await passingRun('patch-rollback');

    expect(report.executions[0]).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(report.finalState.nodes.map((node) => [node.version, node.weight])).toEqual([
      ['1.0.0', 100],
      ['1.0.0', 0],
    ]);
  });

  it('stops everything it started when interrupted with Ctrl-C', async () => {
    const run = await runSandbox(scenarioFile('demo'), {
      interruptWhen: (stdout) => stdout.includes('› Launch the surge node'),
    });

    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain('Interrupted: stopping the sandbox');
    expect(run.report).toBeUndefined();
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  });

  it('counts the requests that fail while the loss of the active node is detected, and exits 1 when none may fail', async () => {
    const { file, remove } = writeScenario({
      name: 'the active node dies',
      load: { requestsPerSecond: 100, maxDurationSeconds: 30 },
      steps: [{ at: 10, fault: 'kill-node', target: 'worker' }],
      expect: { maxFailedRequests: 0 },
    });

    const run = await runSandbox(file);

    expect(run.exitCode).toBe(1);
    expect(run.report?.requests.failed).toBeGreaterThan(0);
    expect(run.report?.availability).toBeLessThan(1);
    expect(run.report?.expectations.find((expectation) => !expectation.holds)?.what).toBe('failed requests at most');
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
    remove();
  });

  it('refuses a bad scenario with a named error before starting anything', async () => {
    const { file, remove } = writeScenario({ name: 'bad', steps: [{ at: 1, start: 'reboot-everything' }] });

    const run = await runSandbox(file);

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('ScenarioError: Invalid scenario');
    expect(run.stderr).toContain('steps[0]');
    removeWorkDir(run);
    remove();
  });
});
