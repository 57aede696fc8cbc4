import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type CliRun,
  processesUsing,
  RUN_LIMIT_MS,
  removeWorkDir,
  runSandbox,
  scenarioFile,
} from '../../cli/sandbox-process';
import type { SandboxReport } from '../../sandbox/report';

export { type CliRun, processesUsing, removeWorkDir, runSandbox, scenarioFile };

/** A sandbox test's own limit: its run, then reading the report and cleaning up. */
export const SANDBOX_TEST_LIMIT_MS = RUN_LIMIT_MS + 60_000;

/** What to compare when a run must pass: the exit code, the expectations that did not hold, and any error printed. */
export function outcome(run: CliRun) {
  return {
    exitCode: run.exitCode,
    failedExpectations: (run.report?.expectations ?? []).filter((expectation) => !expectation.holds),
    errors: run.stderr.split('\n').filter((line) => /Error|error:/.test(line)),
  };
}

/**
 * Runs a shipped scenario that must pass: its expectations hold, no request failed, and nothing it started is left
 * running. Returns the run for the checks particular to the scenario.
 */
export function passingRun(scenario: string): Promise<CliRun & { report: SandboxReport }> {
  return checkedRun(scenario, (run) => {
    expect(run.report?.requests.failures).toEqual([]);
    expect(run.report?.requests.failedByCause).toEqual({});
  });
}

/**
 * Runs a shipped scenario where a node dies: it passes its expectations, and the requests that failed did so only
 * because the load balancer still sent them to the dead node's target group, between its death and the traffic
 * moved: the node refused them, or (once a failover had taken the dead node out of its group to adopt a standby
 * there, while the load balancer still used the old weights) the group had no target ready for them.
 */
export function failoverRun(scenario: string): Promise<CliRun & { report: SandboxReport }> {
  return checkedRun(scenario, (run) => {
    expect(run.report?.failover?.firstFailedOutsideWindow).toEqual([]);
    expect(run.report?.failover?.failedOutsideWindow).toBe(0);
    const causes = Object.keys(run.report?.requests.failedByCause ?? {});
    expect(causes).toContain('target-down');
    expect(causes.filter((cause) => cause !== 'target-down' && cause !== 'no-target')).toEqual([]);
  });
}

/** Runs a shipped scenario that must pass its expectations, with the checks of its requests that it needs. */
export async function checkedRun(
  scenario: string,
  requests: (run: CliRun) => void,
): Promise<CliRun & { report: SandboxReport }> {
  const run = await runSandbox(scenarioFile(scenario));
  try {
    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    requests(run);
    expect(run.report?.finalState).toMatchObject({ lockHeld: false, surgeNodes: 0 });
    expect(processesUsing(run.workDir)).toEqual([]);
  } finally {
    removeWorkDir(run);
  }
  if (!run.report) throw new Error(`${scenario} wrote no report`);
  return { ...run, report: run.report };
}

/** The names not entered in this order (others may come between them): none when the states ran in order. */
export function outOfOrder(states: readonly { name: string }[], names: readonly string[]): string[] {
  const entered = states.map((state) => state.name);
  const notInOrder: string[] = [];
  let from = 0;
  for (const name of names) {
    const at = entered.indexOf(name, from);
    if (at < 0) notInOrder.push(name);
    else from = at + 1;
  }
  return notInOrder;
}

/** Writes a scenario written for one test to a scratch file; `remove` deletes it. */
export function writeScenario(document: Record<string, unknown>): { file: string; remove: () => void } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-scenario-'));
  const file = path.join(directory, 'scenario.json');
  fs.writeFileSync(file, JSON.stringify(document));
  return { file, remove: () => fs.rmSync(directory, { recursive: true, force: true }) };
}
