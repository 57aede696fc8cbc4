import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxReport } from '../../sandbox/report';
import { PROJECT_ROOT } from '../harness/settings';

/** A run of `zerodown sandbox run` as a user starts it, in its own process. */
export interface CliRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly report?: SandboxReport;
  /** The scratch directory the run used; no process may still name it once the run exits. */
  readonly workDir: string;
}

const CLI = path.join(PROJECT_ROOT, 'cli', 'zerodown.cjs');
/**
 * How long a sandbox run may take before the test stops it. A run takes 20–80 s on an idle 2-core machine and about
 * twice that with a CPU hog on every core beside it (docs/testing.md has the figures). The limit is there only to stop
 * a run that hangs, so it sits far above both: a busy machine must give a slower run, never a failed test.
 */
export const RUN_LIMIT_MS = 600_000;
/** A sandbox test's own limit: its run, then reading the report and cleaning up. */
export const SANDBOX_TEST_LIMIT_MS = RUN_LIMIT_MS + 60_000;

export function scenarioFile(name: string): string {
  return path.join(PROJECT_ROOT, 'sandbox', 'scenarios', `${name}.json`);
}

export async function runSandbox(
  scenario: string,
  options: { interruptWhen?: (stdout: string) => boolean } = {},
): Promise<CliRun> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-e2e-'));
  const reportFile = path.join(workDir, 'report.json');
  // The sandbox starts its own moto; the test worker's endpoint must not leak into it.
  const env = { ...process.env };
  delete env.AWS_ENDPOINT_URL;
  const child = spawn(
    process.execPath,
    [CLI, 'sandbox', 'run', '--scenario', scenario, '--report', reportFile, '--work-dir', workDir],
    { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (!interrupted && options.interruptWhen?.(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  const report = fs.existsSync(reportFile)
    ? (JSON.parse(fs.readFileSync(reportFile, 'utf8')) as SandboxReport)
    : undefined;
  return { exitCode, stdout, stderr, ...(report ? { report } : {}), workDir };
}

/**
 * Processes that still use the directory: node servers name it on their command line, and moto keeps its log file
 * there open.
 */
export function processesUsing(directory: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const files = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return '';
        }
      });
      if (commandLine.includes(directory) || files.some((file) => file.startsWith(directory))) {
        found.push(`${pid}: ${commandLine}`);
      }
    } catch {
      // The process ended while we looked, or is not ours to inspect.
    }
  }
  return found;
}

export function removeWorkDir(run: CliRun): void {
  fs.rmSync(run.workDir, { recursive: true, force: true });
}

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
export async function passingRun(scenario: string): Promise<CliRun & { report: SandboxReport }> {
  const run = await runSandbox(scenarioFile(scenario));
  try {
    expect(outcome(run)).toEqual({ exitCode: 0, failedExpectations: [], errors: [] });
    expect(run.report?.requests.failures).toEqual([]);
    expect(run.report?.requests.failedByCause).toEqual({});
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
