import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { installPromiseWithResolvers } from '../local/polyfills';
import type { SandboxReport } from '../sandbox/report';
import { readScenario, ScenarioError } from '../sandbox/scenario';

installPromiseWithResolvers();

const USAGE = `usage: zerodown sandbox run --scenario FILE [--report OUT] [--quiet] [--work-dir DIR]
       zerodown preflight CLUSTER [--json]

sandbox run: runs a sandbox scenario on this machine (moto, local nodes, a local load balancer and live traffic) and
writes the report. Exits 1 when an expectation in the scenario does not hold, 2 on bad usage or a bad scenario.

preflight: checks a deployed cluster with the AWS credentials and region of the environment (read-only): its
documents, nodes, tags, SSM agents, heartbeats, launch template, AMI and listener. Exits 0 when every check passes,
1 otherwise, 2 on bad usage.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  if (group === 'preflight') return preflight(argv.slice(1));
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

async function preflight(args: readonly string[]): Promise<number> {
  let parsed: { values: { json?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...args],
      options: { json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [cluster, ...extra] = parsed.positionals;
  if (!cluster || extra.length > 0) {
    process.stderr.write(`preflight takes one cluster name\n${USAGE}\n`);
    return 2;
  }
  // Loaded only here: the SDK clients read the region and credentials from the environment when first used.
  const { runPreflight } = await import('../functions/operations/preflight');
  const { ssmClient } = await import('../functions/aws/clients/ssm');
  const { ec2Client } = await import('../functions/aws/clients/ec2');
  const { elbv2Client } = await import('../functions/aws/clients/elbv2');
  const { cloudwatchClient } = await import('../functions/aws/clients/cloudwatch');
  const checks = await runPreflight(
    { ssm: ssmClient, ec2: ec2Client, elbv2: elbv2Client, cloudwatch: cloudwatchClient },
    cluster,
  );
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
  } else {
    for (const check of checks) process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'} ${check.check}: ${check.detail}\n`);
    const failed = checks.filter((check) => !check.ok).length;
    process.stdout.write(failed === 0 ? 'every check passed\n' : `${failed} of ${checks.length} checks failed\n`);
  }
  return checks.every((check) => check.ok) ? 0 : 1;
}
