import {
  failoverRun,
  outcome,
  outOfOrder,
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

describe('sandbox: faults', () => {
  it('fails over when the active node dies: its peer starts failover and a replacement ends as the passive node', async () => {
    const run = await runSandbox(scenarioFile('failover'));

    // Failed requests outside the window, if any, explain themselves: when, which node, why.
    expect({ ...outcome(run), outsideWindow: run.report?.failover?.firstFailedOutsideWindow }).toEqual({
      exitCode: 0,
      failedExpectations: [],
      errors: [],
      outsideWindow: [],
    });
    const failover = run.report?.failover;
    // The surviving node's peer watch saw the loss first, well inside the alarm's floor (CloudWatch judges a period
    // only once it is over); the alarm's own failover came after it and found the work done. `npm run bench` prints
    // the figures.
    expect(failover?.detectedBy).toBe('peer');
    const failovers = run.report?.executions.filter((execution) => execution.workflow === 'failover') ?? [];
    expect(failovers[0]).toMatchObject({ trigger: 'peer', status: 'SUCCEEDED' });
    expect(failovers[0]?.states.map((state) => state.name)).toContain('Move traffic to the survivors');
    // Every other failover (the alarm's, and any report a busy machine's slow answer caused) changed nothing.
    for (const later of failovers.slice(1)) {
      expect(later.status).toBe('SUCCEEDED');
      expect(later.states.map((state) => state.name)).not.toContain('Move traffic to the survivors');
    }
    // The order of events: loss detected, confirmed, the lock taken, the weights written, then traffic off the dead
    // node (as the load balancer applied the weights, after its propagation), then a replacement, then redundancy.
    const { detectedAt, confirmedAt, lockedAt, weightsWrittenAt, trafficRestoredAt } = failover ?? {};
    const { replacementLaunchedAt, redundancyRestoredAt } = failover ?? {};
    const timeline = [detectedAt, confirmedAt, lockedAt, weightsWrittenAt, trafficRestoredAt, redundancyRestoredAt];
    expect(timeline).not.toContain(null);
    expect(timeline).toEqual([...timeline].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect(weightsWrittenAt).toBeLessThanOrEqual(replacementLaunchedAt ?? 0);
    // The split accounts for the whole RTO, step by step.
    const split = Object.values(failover?.rtoSplit ?? {}) as number[];
    expect(split.reduce((sum, seconds) => sum + seconds, 0)).toBeCloseTo(failover?.rtoSeconds ?? -1, 1);
    expect(run.report?.loadBalancerPropagationSeconds).toBe(5);
    // Requests failed only while the load balancer still sent them to the dead node, and only because it was dead.
    expect(failover?.failedRequests).toBeGreaterThan(0);
    expect(failover?.failedOutsideWindow).toBe(0);
    expect(Object.keys(run.report?.requests.failedByCause ?? {})).toEqual(['target-down']);
    const nodes = run.report?.finalState.nodes ?? [];
    // The active node was the worker (the runbook's manager is the passive node): the manager now serves, and the
    // replacement took the worker's role and slot as the passive node.
    const manager = nodes.find((node) => node.role === 'manager');
    expect(nodes.every((node) => node.healthy)).toBe(true);
    expect(manager?.weight).toBe(100);
    expect(nodes.find((node) => node.role === 'worker')?.weight).toBe(0);
    expect(run.report?.awsCalls['ec2:RunInstances']).toBe(3); // the two nodes, then the replacement
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
  });

  it('fails over to the surge node of a running patch: it takes the traffic and the slot, and nothing is launched', async () => {
    const run = await failoverRun('patch-failover-standby');

    const failover = run.report.executions.find(
      (execution) =>
        execution.workflow === 'failover' &&
        execution.states.some((state) => state.name === 'Move traffic to the survivors'),
    );
    // The standby was adopted, then the node the patch had taken out of service was verified before the release.
    expect(
      outOfOrder(failover?.states ?? [], [
        'Move traffic to the survivors',
        'Take the standby surge node as the replacement',
        'Adopt the replacement into the slot',
        'Restore the steady weights',
        'Verify the node left out of service',
        'Release the cluster lock',
      ]),
    ).toEqual([]);
    expect(run.report.awsCalls['ec2:RunInstances']).toBe(3); // the two nodes, then the patch's surge node
  });

  it('fails over a node whose alarm stayed in ALARM: the re-check starts the failover that no state change would', async () => {
    const run = await failoverRun('failover-recheck');

    const [blip, ...rechecked] = run.report.executions.filter((execution) => execution.workflow === 'failover');
    // The alarm's one change into ALARM found the node answering; the node died later without any alarm change.
    expect(blip).toMatchObject({ trigger: 'alarm', status: 'SUCCEEDED' });
    expect(blip?.states.at(-1)?.name).toBe('No failover: the node answered');
    const moved = rechecked.find((execution) =>
      execution.states.some((state) => state.name === 'Move traffic to the survivors'),
    );
    expect(moved).toMatchObject({ trigger: 'recheck', status: 'SUCCEEDED' });
    expect(rechecked.every((execution) => execution.status === 'SUCCEEDED')).toBe(true);
    expect(run.report.awsCalls['ec2:RunInstances']).toBe(3); // the two nodes, then the replacement
  });

  it('drills a region failover under load: the DR site boots and passes, its RTO is measured, it is torn down', async () => {
    const run = await passingRun('region-drill');

    const drill = run.report.executions[0];
    expect(drill?.rtoSeconds).toBeGreaterThan(0);
    // The RTO is taken once the DR site passed its checks, and the site is torn down after it.
    expect(
      outOfOrder(drill?.states ?? [], [
        'Launch the DR nodes',
        'Check whether the DR site is ready',
        'Record the drill RTO',
        'Drill complete',
      ]),
    ).toEqual([]);
    expect(run.report.awsCalls['ec2:RunInstances']).toBe(4); // the two nodes, then the two DR nodes
    expect(run.report.awsCalls['ec2:TerminateInstances']).toBeGreaterThanOrEqual(1);
    expect(run.report.awsCalls['route53:ChangeResourceRecordSets']).toBe(1); // creating the records; a drill moves none
  });

  it('fails over to the DR region and back under load: clients follow DNS as the records in moto answer it', async () => {
    const run = await passingRun('region-failover');

    const [failover, failback] = run.report.executions;
    expect(failover?.rtoSeconds).toBeGreaterThan(0);
    // The RTO is reported once DNS points at the DR site, which had passed its checks first.
    expect(
      outOfOrder(failover?.states ?? [], [
        'Launch the DR nodes',
        'Check whether the DR site is ready',
        'Point DNS at the DR region',
        'Report the region failover RTO',
      ]),
    ).toEqual([]);
    expect(failback?.status).toBe('SUCCEEDED');
    // The active node and the two DR nodes served, the DR nodes while DNS pointed at the DR region.
    const serving = Object.entries(run.report.requestsByNode).filter(([, count]) => count > 0);
    expect(serving).toHaveLength(3);
    expect(run.report.awsCalls['route53:ChangeResourceRecordSets']).toBe(3); // the records' creation, there and back
    expect(run.report.awsCalls['ec2:TerminateInstances']).toBeGreaterThanOrEqual(1);
  });

  it('recovers a patch stopped mid-rotation under load: recover restores the weights, retires the surge node', async () => {
    const run = await passingRun('patch-aborted');

    // The stopped patch is recovered by the workflow its status change starts, as the deployed rule does.
    const [patch, recover] = ['patch-server', 'recover'].map((workflow) =>
      run.report.executions.find((execution) => execution.workflow === workflow),
    );
    expect(patch?.status).toBe('ABORTED');
    expect(recover).toMatchObject({ trigger: 'rule', status: 'SUCCEEDED' });
    // Traffic went back only once the stopped patch's command had ended, then the surge node left.
    expect(
      outOfOrder(recover?.states ?? [], [
        'Recover: check that its commands have ended',
        'Recover: restore the last safe weights',
        'Deregister a leftover surge node',
        'Terminate a leftover surge node',
        'Release the cluster lock',
      ]),
    ).toEqual([]);
    const nodes = run.report.finalState.nodes;
    expect(nodes.map((node) => ({ healthy: node.healthy, serving: node.weight > 0 }))).toEqual([
      { healthy: true, serving: true },
      { healthy: true, serving: true },
    ]);
  });

  it('refuses to patch when the passive node fails its health checks, before touching anything', async () => {
    const { file, remove } = writeScenario({
      name: 'the passive node is unhealthy',
      load: { requestsPerSecond: 50, maxDurationSeconds: 60 },
      steps: [
        { at: 0, fault: 'unhealthy', target: 'manager' },
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
  });

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
    // The surge node boots for 100 scenario seconds, ten poll intervals, and is first checked as soon as its launch
    // returns: it is found booting at least once before it is ready, and the workflow waits rather than fails.
    expect(polls?.length).toBeGreaterThan(1);
    expect(processesUsing(run.workDir)).toEqual([]);
    removeWorkDir(run);
    remove();
  });
});
