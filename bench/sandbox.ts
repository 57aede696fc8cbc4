/**
 * The sandbox scenarios under load, as figures: availability, failed requests, the lowest healthy serving capacity,
 * each workflow's duration split into waiting on the world and orchestration, AWS calls and state transitions.
 * Each scenario runs through the CLI in its own process, as a user runs it.
 *
 * Run alone with `npx tsx bench/sandbox.ts`.
 */

import { processesUsing, removeWorkDir, runSandbox, scenarioFile } from '../cli/sandbox-process';
import type { SandboxReport } from '../sandbox/report';
import { table } from './format';

export const SCENARIOS = [
  'demo',
  'patch-active-active',
  'upgrade-version',
  'deploy-service',
  'update-service',
  'patch-rollback',
  'patch-second-node-fails',
  'patch-aborted',
  'failover',
  'patch-failover-standby',
  'failover-recheck',
  'region-drill',
  'region-failover',
] as const;

export interface ScenarioMeasurement {
  readonly scenario: string;
  readonly exitCode: number | null;
  readonly report?: SandboxReport;
  readonly strayProcesses: number;
}

export async function measureSandbox(onProgress: (line: string) => void = () => {}): Promise<ScenarioMeasurement[]> {
  const results: ScenarioMeasurement[] = [];
  for (const scenario of SCENARIOS) {
    onProgress(`Running sandbox scenario ${scenario}`);
    const run = await runSandbox(scenarioFile(scenario));
    results.push({
      scenario,
      exitCode: run.exitCode,
      ...(run.report ? { report: run.report } : {}),
      strayProcesses: processesUsing(run.workDir).length,
    });
    removeWorkDir(run);
  }
  return results;
}

export function report(results: readonly ScenarioMeasurement[]): string {
  const rows = results.map(({ scenario, exitCode, report: run, strayProcesses }) => {
    const execution = run?.executions[0];
    const scale = run?.timeScale ?? 1;
    return [
      scenario,
      `${execution?.workflow ?? '-'} ${execution?.status ?? '-'}`,
      run ? `${(run.availability * 100).toFixed(3)}%` : '-',
      run ? `${run.requests.failed}/${run.requests.total}` : '-',
      run ? `${run.minHealthyCapacityPercent}%` : '-',
      execution ? `${execution.durationSeconds.toFixed(1)}` : '-',
      execution ? `${execution.waitingSeconds.toFixed(1)} (${(execution.waitingSeconds / scale).toFixed(0)})` : '-',
      execution ? `${execution.orchestrationSeconds.toFixed(1)}` : '-',
      run ? String(Object.values(run.awsCalls).reduce((sum, count) => sum + count, 0)) : '-',
      run ? String(run.stateTransitions) : '-',
      exitCode === 0 && strayProcesses === 0 ? 'ok' : `exit ${exitCode}, ${strayProcesses} stray`,
    ];
  });
  return [
    table(
      [
        'scenario',
        'workflow',
        'availability',
        'failed/sent',
        'min healthy',
        'run s',
        'waiting s (AWS s)',
        'orchestration s',
        'AWS calls',
        'transitions',
        'expectations',
      ],
      rows,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
    'Real seconds at the scenario time scale; "AWS s" is the waiting time as it would last on AWS. Waiting is time',
    'in Wait states (drains, bakes and the pauses between polls of a restart or a command); orchestration is the rest:',
    'Lambda calls, polls and state transitions, run here in process.',
    ...results.flatMap(({ scenario, report: run }) =>
      run?.failover ? [failoverTimeline(scenario, run.failover)] : [],
    ),
    ...results.flatMap(({ scenario, report: run }) =>
      run && run.requests.failed > 0 ? [failureCauses(scenario, run.requests)] : [],
    ),
    ...results.flatMap(({ scenario, report: run }) =>
      (run?.executions ?? []).flatMap((execution) =>
        execution.rtoSeconds === undefined
          ? []
          : [
              `\n${execution.workflow} RTO, ${scenario}: ${execution.rtoSeconds} s (scenario seconds from the start to ` +
                'DNS moved; for a drill, to the DR site verified, when DNS would move)',
            ],
      ),
    ),
  ].join('\n');
}

/** Why requests failed: the cluster's own failures apart from those a busy machine explains. */
function failureCauses(scenario: string, requests: SandboxReport['requests']): string {
  const causes = Object.entries(requests.failedByCause).map(([cause, count]) => `${count} ${cause}`);
  return `\nFailed requests, ${scenario}: ${causes.join(', ')} (${requests.failedUnderLoad} explained by a busy machine)`;
}

/** The failover of a kill-node scenario, in the seconds AWS would take. */
function failoverTimeline(scenario: string, failover: NonNullable<SandboxReport['failover']>): string {
  const at = (seconds: number | null) => (seconds === null ? 'never' : `${seconds.toFixed(2)} s`);
  const after = (seconds: number | null) => (seconds === null ? '' : ` (+${(seconds - failover.diedAt).toFixed(2)} s)`);
  return [
    '',
    `Failover timeline, ${scenario} (scenario seconds since the load started):`,
    `  node dies             ${at(failover.diedAt)}`,
    `  loss detected         ${at(failover.detectedAt)}${after(failover.detectedAt)}  detection floor ${failover.detectionFloorSeconds} s`,
    `  weights moved         ${at(failover.trafficRestoredAt)}${after(failover.trafficRestoredAt)}  orchestration ${failover.orchestrationSeconds ?? '-'} s, RTO ${failover.rtoSeconds ?? '-'} s`,
    `  replacement launched  ${at(failover.replacementLaunchedAt)}${after(failover.replacementLaunchedAt)}`,
    `  redundancy restored   ${at(failover.redundancyRestoredAt)}${after(failover.redundancyRestoredAt)}`,
    `  failed requests       ${failover.failedRequests}, of which outside the detection window: ${failover.failedOutsideWindow}`,
  ].join('\n');
}

if (require.main === module) {
  measureSandbox((line) => process.stderr.write(`${line}\n`)).then(
    (results) => process.stdout.write(`${report(results)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
