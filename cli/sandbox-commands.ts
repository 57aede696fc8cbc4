import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCAL_REGION } from '../local/settings';
import type { SandboxReport } from '../sandbox/report';
import { readScenario, ScenarioError } from '../sandbox/scenario';
import { CliError } from './executions';
import type { SandboxCommands, SandboxRunOptions, SandboxUpOptions } from './sandbox-options';
import { SANDBOX_HANDLE_FILE, type SandboxHandle } from './session';

/** `zerodown sandbox run` and `zerodown sandbox up`: the sandbox on this machine, for a scenario or for the CLI. */

function loadScenario(file: string): ReturnType<typeof readScenario> {
  try {
    return readScenario(file);
  } catch (error) {
    if (error instanceof ScenarioError) throw new CliError(`${error.name}: ${error.message}`, 2);
    throw error;
  }
}

/**
 * Stops the run on the first SIGINT or SIGTERM. Ctrl-C reaches this process twice (from the terminal and from the
 * launcher): later ones must not end the process before the sandbox has stopped what it started.
 */
function interruptible(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const interrupt = () => {
    if (controller.signal.aborted) return;
    process.stderr.write('\nInterrupted: stopping the sandbox...\n');
    controller.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    },
  };
}

/** The HTML report beside a JSON report: `run.json` gives `run.html`; a name without `.json` gets `.html` added. */
export function htmlReportFileFor(jsonReport: string): string {
  return jsonReport.endsWith('.json') ? `${jsonReport.slice(0, -'.json'.length)}.html` : `${jsonReport}.html`;
}

/** Runs a scenario and writes its report, as JSON and as HTML. Exits 1 when an expectation does not hold. */
export async function runSandboxScenario(values: SandboxRunOptions): Promise<number> {
  const scenario = loadScenario(values.scenario);
  const { signal, release } = interruptible();
  // Loaded only for a run: the sandbox brings the CDK app and every handler, which usage errors do not need.
  const { runScenario } = await import('../sandbox/runner');
  const log = (line: string) => {
    if (!values.quiet) process.stdout.write(`${line}\n`);
  };
  log(`zerodown sandbox: ${scenario.name}`);
  let report: SandboxReport;
  try {
    report = await runScenario(scenario, {
      onProgress: log,
      signal,
      ...(values.workDir ? { workDir: values.workDir } : {}),
    });
  } finally {
    release();
  }
  const htmlFile = values.report ? htmlReportFileFor(values.report) : undefined;
  if (values.report && htmlFile) {
    fs.mkdirSync(path.dirname(path.resolve(values.report)), { recursive: true });
    fs.writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
    // Loaded only here, like the runner: the charting library it inlines is read from disk at render time.
    const [{ renderHtmlReport }, { sandboxEvidence }] = await Promise.all([
      import('../report/html'),
      import('../sandbox/evidence'),
    ]);
    fs.writeFileSync(htmlFile, renderHtmlReport(sandboxEvidence(report)));
  }
  process.stdout.write(`\n${summaryTable(report)}\n`);
  if (values.report && htmlFile) process.stdout.write(`Report: ${values.report}\nHTML report: ${htmlFile}\n`);
  return report.expectations.every((expectation) => expectation.holds) ? 0 : 1;
}

/**
 * Keeps a sandbox up until SIGINT or SIGTERM, and leaves its endpoint where the CLI finds it: from another terminal,
 * `zerodown status sandbox` and `zerodown start patch-server sandbox ...` go to it. The scenario's faults are played;
 * its workflow steps are left to the CLI.
 */
export async function serveSandboxCommand(values: SandboxUpOptions): Promise<number> {
  const scenario = loadScenario(values.scenario);
  const handleFile = values.handleFile ?? SANDBOX_HANDLE_FILE;
  const { signal, release } = interruptible();
  const { serveSandbox } = await import('../sandbox/runner');
  const log = (line: string) => {
    if (!values.quiet) process.stdout.write(`${line}\n`);
  };
  log(`zerodown sandbox up: ${scenario.name}`);
  try {
    await serveSandbox(scenario, {
      onProgress: log,
      signal,
      ...(values.workDir ? { workDir: values.workDir } : {}),
      onReady: (endpoint, cluster) => {
        const handle: SandboxHandle = { endpoint, cluster, region: LOCAL_REGION, pid: process.pid };
        fs.mkdirSync(path.dirname(handleFile), { recursive: true });
        fs.writeFileSync(handleFile, `${JSON.stringify(handle, null, 2)}\n`);
        process.stdout.write(
          `sandbox up: cluster "${cluster}" at ${endpoint}\n` +
            `  try: zerodown status ${cluster}\n` +
            `       zerodown start patch-server ${cluster} --set patchId=P1 --watch\n` +
            '  stop it with Ctrl-C\n',
        );
      },
    });
  } finally {
    release();
    try {
      const handle = JSON.parse(fs.readFileSync(handleFile, 'utf8')) as SandboxHandle;
      if (handle.pid === process.pid) fs.rmSync(handleFile);
    } catch {
      // nothing left to remove
    }
  }
  log('sandbox stopped');
  return 0;
}

export function summaryTable(report: SandboxReport): string {
  const rows: [string, string][] = [
    ['scenario', report.scenario],
    ...report.executions.map((execution): [string, string] => [
      `workflow ${execution.workflow}${execution.trigger === 'scenario' ? '' : ` (${execution.trigger})`}`,
      `${execution.status}${execution.error ? ` (${execution.error})` : ''}, ${execution.stateTransitions} transitions` +
        (execution.rtoSeconds !== undefined ? `, RTO ${execution.rtoSeconds} s` : ''),
    ]),
    ['requests', describeRequests(report.requests)],
    ['availability', `${(report.availability * 100).toFixed(3)}%`],
    ['min healthy capacity', `${report.minHealthyCapacityPercent}%`],
    ...report.finalState.nodes.map((node): [string, string] => [
      `node ${node.id} (${node.role})`,
      `version ${node.version ?? 'down'}, weight ${node.weight}, ${node.healthy ? 'healthy' : 'unhealthy'}`,
    ]),
    ...describeDatabase(report.finalState),
    ['surge nodes left', String(report.finalState.surgeNodes)],
    ['lock held', String(report.finalState.lockHeld)],
    ['duration', `${report.durationSeconds.toFixed(1)} s real (time scale ${report.timeScale})`],
    ...report.expectations.map((expectation): [string, string] => [
      `expect ${expectation.what}`,
      `${expectation.holds ? 'ok' : 'FAILED'}: expected ${JSON.stringify(expectation.expected)}, got ${JSON.stringify(expectation.actual)}`,
    ]),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}

/** The database the model names, its schema at the end, and the snapshots the run took of it. */
function describeDatabase({ database, schemaVersion }: SandboxReport['finalState']): [string, string][] {
  if (!database) return [];
  const snapshots = database.snapshots.map((snapshot) => `${snapshot.id} (${snapshot.status})`);
  return [
    [
      `database ${database.identifier}`,
      `schema ${schemaVersion ?? 'none'}, ${snapshots.length > 0 ? `snapshot ${snapshots.join(', ')}` : 'no snapshot taken'}`,
    ],
  ];
}

/** The request counts, and the failures by cause: the cluster's own apart from those a busy machine explains. */
function describeRequests(requests: SandboxReport['requests']): string {
  const counts = `${requests.total} sent, ${requests.ok} ok, ${requests.failed} failed`;
  if (requests.failed === 0) return counts;
  const causes = Object.entries(requests.failedByCause)
    .map(([cause, count]) => `${count} ${cause}`)
    .join(', ');
  const underLoad =
    requests.failedUnderLoad > 0 ? `; ${requests.failedUnderLoad} of them timed out on a busy machine` : '';
  return `${counts} (${causes}${underLoad})`;
}

// Checked against the shape the CLI loads this module by.
({ runSandboxScenario, serveSandboxCommand }) satisfies SandboxCommands;
