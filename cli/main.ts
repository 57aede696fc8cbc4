import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { installPromiseWithResolvers } from '../local/polyfills';
import type { SandboxReport } from '../sandbox/report';
import { readScenario, ScenarioError } from '../sandbox/scenario';

installPromiseWithResolvers();

const USAGE = `usage: zerodown sandbox run --scenario FILE [--report OUT] [--quiet] [--work-dir DIR]

Runs a sandbox scenario on this machine (moto, local nodes, a local load balancer and live traffic) and writes the
report. Exits 1 when an expectation in the scenario does not hold, 2 on bad usage or a bad scenario.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  if (group !== 'sandbox' || command !== 'run') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let values: { scenario?: string; report?: string; quiet?: boolean; 'work-dir'?: string };
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        scenario: { type: 'string' },
        report: { type: 'string' },
        quiet: { type: 'boolean' },
        'work-dir': { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.scenario) {
    process.stderr.write(`--scenario is required\n${USAGE}\n`);
    return 2;
  }
  let scenario: ReturnType<typeof readScenario>;
  try {
    scenario = readScenario(values.scenario);
  } catch (error) {
    if (error instanceof ScenarioError) {
      process.stderr.write(`${error.name}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const controller = new AbortController();
  // Ctrl-C reaches this process twice (from the terminal and from the launcher): the first stops the run, later
  // ones must not end the process before the sandbox has stopped what it started.
  const interrupt = () => {
    if (controller.signal.aborted) return;
    process.stderr.write('\nInterrupted: stopping the sandbox...\n');
    controller.abort();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
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
      signal: controller.signal,
      ...(values['work-dir'] ? { workDir: values['work-dir'] } : {}),
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (values.report) {
    fs.mkdirSync(path.dirname(path.resolve(values.report)), { recursive: true });
    fs.writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
  }
  process.stdout.write(`\n${summaryTable(report)}\n`);
  if (values.report) process.stdout.write(`Report: ${values.report}\n`);
  return report.expectations.every((expectation) => expectation.holds) ? 0 : 1;
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

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
