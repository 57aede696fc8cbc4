import { checkedRun, failoverRun, passingRun, SANDBOX_TEST_LIMIT_MS } from './sandbox-cli';

// Each test is one sandbox run, with the run's generous limit (see sandbox-cli.ts).
jest.setTimeout(SANDBOX_TEST_LIMIT_MS);

/**
 * How a node loss is detected, under load: the nodes' peer watch, the failover's own confirmation as the guard against
 * a node that is merely cut off from its peer, and the heartbeat alarm as the backstop when the watch is gone too.
 */
describe('sandbox: node loss detection', () => {
  it('fails over a node that hangs (accepts connections, never answers) from its peer watch', async () => {
    const run = await checkedRun('failover-hung', (cli) => {
      // The requests caught on the hung node end in the load balancer's idle timeout, and only those.
      expect(cli.report?.failover?.failedOutsideWindow).toBe(0);
      expect(Object.keys(cli.report?.requests.failedByCause ?? {})).toEqual(['target-timeout']);
    });

    const failover = run.report.failover;
    expect(failover?.detectedBy).toBe('peer');
    const moved = run.report.executions.find((execution) =>
      execution.states.some((state) => state.name === 'Move traffic to the survivors'),
    );
    expect(moved).toMatchObject({ workflow: 'failover', trigger: 'peer', status: 'SUCCEEDED' });
    const manager = run.report.finalState.nodes.find((node) => node.role === 'manager');
    expect(manager).toMatchObject({ weight: 100, healthy: true });
  });

  it('moves nothing when the nodes cannot reach each other while the load balancer reaches both', async () => {
    const { report } = await passingRun('failover-partition');

    // Each node reported the other lost; each failover found the node answering from inside the VPC and told the
    // operator that the nodes may be cut off from each other.
    const failovers = report.executions.filter((execution) => execution.workflow === 'failover');
    const reported = failovers.map((execution) => execution.input.slot);
    expect(new Set(reported)).toEqual(new Set(['a', 'b']));
    for (const failover of failovers) {
      expect(failover).toMatchObject({ trigger: 'peer', status: 'SUCCEEDED' });
      expect(failover.states.map((state) => state.name)).toEqual(
        expect.arrayContaining(['Report a node that its peer could not reach', 'No failover: the node answered']),
      );
      expect(failover.states.map((state) => state.name)).not.toContain('Take over the cluster lock');
    }
    // The weights never changed: the one entry is the weights the load started with.
    expect(report.weights).toHaveLength(1);
    expect(report.requests.failed).toBe(0);
  });

  it('fails over from the heartbeat alarm when the node dies with its agents and its peer watches nothing', async () => {
    const { report } = await failoverRun('failover-agents-gone');

    expect(report.failover?.detectedBy).toBe('alarm');
    const failovers = report.executions.filter((execution) => execution.workflow === 'failover');
    expect(failovers.map((execution) => [execution.trigger, execution.status])).toEqual([['alarm', 'SUCCEEDED']]);
    // CloudWatch judges a period only once it is over, so the alarm cannot fire before its floor: a bound the alarm's
    // rules set, which a busy machine can only push later.
    expect(report.failover?.detectionSeconds).toBeGreaterThanOrEqual(report.failover?.detectionFloorSeconds ?? 0);
    expect(report.failover?.failedOutsideWindow).toBe(0);
  });
});
