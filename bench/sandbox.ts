/**
 * The sandbox scenarios under load, as figures: availability, failed requests, the lowest healthy serving capacity,
 * each workflow's duration split into waiting on the world and orchestration, AWS calls and state transitions.
 * Each scenario runs through the CLI in its own process, as a user runs it. The failover scenario runs several times,
 * and its RTO, split step by step, and its failed requests per loss are reported per run and as medians against the
 * failover targets.
 *
 * Run alone with `npx tsx bench/sandbox.ts`. Environment variables:
 * - `ZERODOWN_BENCH_SCENARIOS`: a comma-separated list of scenarios to run (of SCENARIOS), such as
 *   `failover,failover-partition`; all of them when unset.
 * - `ZERODOWN_BENCH_FAILOVER_RUNS`: how many times the failover scenario runs (FAILOVER_RUNS when unset).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
  'failover-hung',
  'failover-partition',
  'failover-agents-gone',
  'patch-failover-standby',
  'failover-recheck',
  'region-drill',
  'region-failover',
] as const;

export type ScenarioName = (typeof SCENARIOS)[number];

/** The scenario the failover targets are about: active/passive, 100 requests per second, the active node killed. */
export const FAILOVER_SCENARIO = 'failover' satisfies ScenarioName;

/** How many times the failover scenario runs; the first run is also its row in the main table. */
export const FAILOVER_RUNS = 5;

/** The failover's targets, on the medians of its runs. */
export const FAILOVER_TARGETS = {
  /** Scenario seconds from the node's death to the load balancer using the new weights. */
  maxRtoSeconds: 8,
  /** Failed requests sent between the death and the traffic moved: a third of the 1,055 before the peer watch. */
  maxFailedPerLoss: 351,
} as const;

export interface ScenarioMeasurement {
  readonly scenario: string;
  readonly exitCode: number | null;
  readonly report?: SandboxReport;
  readonly strayProcesses: number;
}

export interface SandboxMeasurements {
  /** One run of each scenario, in the order of SCENARIOS. */
  readonly scenarios: readonly ScenarioMeasurement[];
  /** Every run of the failover scenario, the first included; empty when it was not among the scenarios run. */
  readonly failoverRuns: readonly ScenarioMeasurement[];
  /** The failover scenario once more with a longer modelled propagation, for how the RTO moves with it. */
  readonly slowPropagation?: ScenarioMeasurement;
}

/**
 * AWS gives no figure for how long an ALB takes to use new weights; 10 s is what users of the AWS Load Balancer
 * Controller plan for a target change (docs/sandbox.md). The failover runs once more with it.
 */
export const SLOW_PROPAGATION_SECONDS = 10;

export interface MeasureSandboxOptions {
  /** The scenarios to run. @default - ZERODOWN_BENCH_SCENARIOS, or every scenario of SCENARIOS */
  readonly scenarios?: readonly ScenarioName[];
  /** Runs of the failover scenario. @default - ZERODOWN_BENCH_FAILOVER_RUNS, or FAILOVER_RUNS */
  readonly failoverRuns?: number;
}

/** The scenarios ZERODOWN_BENCH_SCENARIOS names, in the order of SCENARIOS; all of them when it is unset or empty. */
export function scenariosFromEnv(value = process.env.ZERODOWN_BENCH_SCENARIOS): ScenarioName[] {
  const names = (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) return [...SCENARIOS];
  const known = new Set<string>(SCENARIOS);
  const unknown = names.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new Error(
      `ZERODOWN_BENCH_SCENARIOS names unknown scenarios: ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`,
    );
  }
  return SCENARIOS.filter((scenario) => names.includes(scenario));
}

/** The runs of the failover scenario ZERODOWN_BENCH_FAILOVER_RUNS asks for; FAILOVER_RUNS when it is unset or empty. */
export function failoverRunsFromEnv(value = process.env.ZERODOWN_BENCH_FAILOVER_RUNS): number {
  if (value === undefined || value.trim() === '') return FAILOVER_RUNS;
  const runs = Number(value);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`ZERODOWN_BENCH_FAILOVER_RUNS must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return runs;
}

export async function measureSandbox(
  onProgress: (line: string) => void = () => {},
  options: MeasureSandboxOptions = {},
): Promise<SandboxMeasurements> {
  const selected = options.scenarios ?? scenariosFromEnv();
  const failoverRuns = options.failoverRuns ?? failoverRunsFromEnv();
  if (!Number.isInteger(failoverRuns) || failoverRuns < 1) {
    throw new Error(`failoverRuns must be a positive integer, got ${failoverRuns}`);
  }
  const scenarios: ScenarioMeasurement[] = [];
  for (const scenario of selected) {
    const runs = scenario === FAILOVER_SCENARIO ? ` (run 1 of ${failoverRuns})` : '';
    onProgress(`Running sandbox scenario ${scenario}${runs}`);
    scenarios.push(await measureScenario(scenario));
  }
  const first = scenarios.find((measurement) => measurement.scenario === FAILOVER_SCENARIO);
  const repeats: ScenarioMeasurement[] = [];
  if (first) {
    for (let run = 2; run <= failoverRuns; run++) {
      onProgress(`Running sandbox scenario ${FAILOVER_SCENARIO} (run ${run} of ${failoverRuns})`);
      repeats.push(await measureScenario(FAILOVER_SCENARIO));
    }
  }
  let slowPropagation: ScenarioMeasurement | undefined;
  if (first) {
    onProgress(`Running sandbox scenario ${FAILOVER_SCENARIO} with ${SLOW_PROPAGATION_SECONDS} s of propagation`);
    slowPropagation = await measureWithPropagation(SLOW_PROPAGATION_SECONDS);
  }
  return { scenarios, failoverRuns: first ? [first, ...repeats] : [], ...(slowPropagation ? { slowPropagation } : {}) };
}

/** The failover scenario with another modelled propagation, from a copy of its file. */
async function measureWithPropagation(propagationSeconds: number): Promise<ScenarioMeasurement> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-bench-'));
  try {
    const scenario = JSON.parse(fs.readFileSync(scenarioFile(FAILOVER_SCENARIO), 'utf8')) as Record<string, unknown>;
    const file = path.join(dir, `${FAILOVER_SCENARIO}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...scenario, loadBalancer: { propagationSeconds } }));
    return await measureScenario(FAILOVER_SCENARIO, file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function measureScenario(scenario: string, file = scenarioFile(scenario)): Promise<ScenarioMeasurement> {
  const run = await runSandbox(file);
  const measurement: ScenarioMeasurement = {
    scenario,
    exitCode: run.exitCode,
    ...(run.report ? { report: run.report } : {}),
    strayProcesses: processesUsing(run.workDir).length,
  };
  removeWorkDir(run);
  return measurement;
}

export function report(measurements: SandboxMeasurements): string {
  const { scenarios: results, failoverRuns, slowPropagation } = measurements;
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
    ...(failoverRuns.length > 0 ? [failoverRunsReport(failoverRuns)] : []),
    ...(slowPropagation ? [slowPropagationLine(slowPropagation)] : []),
    ...(failoverRuns.length > 0 || results.some(({ report: run }) => run?.failover) ? ['', ...failoverNotes()] : []),
    ...results.flatMap(({ scenario, report: run }) =>
      run?.failover ? [failoverTimeline(scenario, run, run.failover)] : [],
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

type Failover = NonNullable<SandboxReport['failover']>;
type SplitStep = keyof Failover['rtoSplit'];

/** The RTO's steps in order, with the label the bench prints. */
const SPLIT_STEPS: readonly (readonly [SplitStep, string])[] = [
  ['detection', 'detection'],
  ['confirmation', 'confirmation'],
  ['lock', 'lock'],
  ['weightWrite', 'weight write'],
  ['propagation', 'propagation'],
];

/** What each step of the split covers, and where the times come from: printed once, before the timelines. */
function failoverNotes(): string[] {
  return [
    'Failover figures are scenario seconds: real seconds divided by the time scale, the time AWS would take; at time',
    'scale 1, as in failover-hung, they are real seconds. The split runs each step from the end of the one before,',
    'and the steps sum to the RTO, from the death to the load balancer using the new weights. Detection: to a peer',
    'watch, the alarm or its re-check starting the failover. Confirmation: to "Confirm the node loss" done. Lock: to',
    '"Take over the cluster lock" done. Weight write: to "Work out the move under the lock" and "Move traffic to the',
    'survivors" done (ModifyListener returned). Propagation: to the load balancer using the new weights, which is the',
    "sandbox's modelled ALB propagation (the scenario's loadBalancer.propagationSeconds, loadBalancerPropagationSeconds",
    'in the report), not a measurement of AWS. Failed requests per loss: those sent between the death and the traffic',
    "moved. The load's rate is per real second, so at time scale 0.5 a scenario second carries half of it.",
  ];
}

/** Seconds with 2 decimals; `never` for a step that did not happen, `-` for a run without a failover report. */
function seconds(value: number | null | undefined): string {
  if (value === undefined) return '-';
  if (value === null || !Number.isFinite(value)) return 'never';
  return value.toFixed(2);
}

/** A count, with one decimal only when it is a median of an even number of runs that falls between two. */
function count(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** The median; a step that never happened counts as longer than any that did. Undefined for no values. */
function median(values: readonly (number | null)[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = values.map((value) => value ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  if (sorted.length % 2 === 1) return upper;
  const lower = sorted[middle - 1] ?? Number.NaN;
  // Infinity + Infinity is fine; Infinity - Infinity never happens here.
  return (lower + upper) / 2;
}

/** The most frequent value, with how many runs had it: `peer (4/5)`. */
function mostFrequent(values: readonly string[]): string {
  if (values.length === 0) return '-';
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  const [value, times] = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? ['-', 0];
  return `${value} (${times}/${values.length})`;
}

/** Each run of the failover scenario, the medians per column, and the medians against the targets. */
function failoverRunsReport(runs: readonly ScenarioMeasurement[]): string {
  const rows = runs.map(({ exitCode, report: run, strayProcesses }, index) => {
    const failover = run?.failover;
    return [
      String(index + 1),
      failover ? (failover.detectedBy ?? 'none') : '-',
      ...SPLIT_STEPS.map(([step]) => seconds(failover ? failover.rtoSplit[step] : undefined)),
      seconds(failover ? failover.rtoSeconds : undefined),
      failover ? String(failover.failedInWindow) : '-',
      expectationsCell(exitCode, strayProcesses),
    ];
  });
  const measured = runs.flatMap(({ report: run }) => (run?.failover ? [run.failover] : []));
  const medianRto = median(measured.map((failover) => failover.rtoSeconds));
  const medianFailed = median(measured.map((failover) => failover.failedInWindow));
  const label = measured.length === runs.length ? 'median' : `median (${measured.length} of ${runs.length})`;
  rows.push([
    label,
    mostFrequent(measured.map((failover) => failover.detectedBy ?? 'none')),
    ...SPLIT_STEPS.map(([step]) => seconds(median(measured.map((failover) => failover.rtoSplit[step])))),
    seconds(medianRto),
    medianFailed === undefined ? '-' : count(medianFailed),
    '',
  ]);
  const propagation = runs.find(({ report: run }) => run)?.report?.loadBalancerPropagationSeconds;
  const lines = [
    '',
    `Failover, ${runs.length} run${runs.length === 1 ? '' : 's'} of ${FAILOVER_SCENARIO} (scenario seconds from the ` +
      `node's death; the modelled ALB propagation is ${propagation ?? '-'} s):`,
    table(
      [
        'run',
        'detected by',
        ...SPLIT_STEPS.map(([, label]) => `${label} s`),
        'RTO s',
        'failed in window',
        'expectations',
      ],
      rows,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
    measured.length === 0
      ? `${FAILOVER_SCENARIO}: no run reported a failover (targets: RTO ${FAILOVER_TARGETS.maxRtoSeconds} s, ` +
        `at most ${FAILOVER_TARGETS.maxFailedPerLoss} failed requests per loss)`
      : `${FAILOVER_SCENARIO}: median RTO ${medianRto === undefined ? '-' : rtoFigure(medianRto)} (target ` +
        `${FAILOVER_TARGETS.maxRtoSeconds} s), median failed requests per loss ` +
        `${medianFailed === undefined ? '-' : count(medianFailed)} (target at most ${FAILOVER_TARGETS.maxFailedPerLoss})`,
  ];
  return lines.join('\n');
}

function slowPropagationLine({ report: run, exitCode, strayProcesses }: ScenarioMeasurement): string {
  const failover = run?.failover;
  if (!failover) return `${FAILOVER_SCENARIO} with ${SLOW_PROPAGATION_SECONDS} s of propagation: no failover reported`;
  const split = SPLIT_STEPS.map(([step, label]) => `${label} ${seconds(failover.rtoSplit[step])}`).join(', ');
  return (
    `${FAILOVER_SCENARIO} with ${SLOW_PROPAGATION_SECONDS} s of propagation (one run, ` +
    `${expectationsCell(exitCode, strayProcesses)}): RTO ${seconds(failover.rtoSeconds)} s (${split}), ` +
    `${count(failover.failedInWindow)} failed requests per loss`
  );
}

function rtoFigure(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)} s` : 'never (traffic did not move in half the runs or more)';
}

function expectationsCell(exitCode: number | null, strayProcesses: number): string {
  return exitCode === 0 && strayProcesses === 0 ? 'ok' : `exit ${exitCode}, ${strayProcesses} stray`;
}

/** The failover of a kill-node scenario, in the seconds AWS would take. */
function failoverTimeline(scenario: string, run: SandboxReport, failover: Failover): string {
  const at = (value: number | null) => (value === null ? 'never' : `${value.toFixed(2)} s`);
  const after = (value: number | null) => (value === null ? '' : ` (+${(value - failover.diedAt).toFixed(2)} s)`);
  const step = (name: SplitStep) => `${seconds(failover.rtoSplit[name])} s`;
  const split = SPLIT_STEPS.map(([name, label]) => `${label} ${seconds(failover.rtoSplit[name])}`).join(' + ');
  const realTime = run.timeScale === 1 ? ', real seconds at time scale 1' : `, time scale ${run.timeScale}`;
  return [
    '',
    `Failover timeline, ${scenario} (scenario seconds since the load started${realTime}):`,
    `  node dies             ${at(failover.diedAt)}`,
    `  loss detected         ${at(failover.detectedAt)}${after(failover.detectedAt)}  by ${failover.detectedBy ?? '-'}; ` +
      `detection ${step('detection')}, the alarm's floor ${failover.detectionFloorSeconds} s`,
    `  loss confirmed        ${at(failover.confirmedAt)}${after(failover.confirmedAt)}  confirmation ${step('confirmation')}`,
    `  lock held             ${at(failover.lockedAt)}${after(failover.lockedAt)}  lock ${step('lock')}`,
    `  weights written       ${at(failover.weightsWrittenAt)}${after(failover.weightsWrittenAt)}  weight write ${step('weightWrite')}; ` +
      `orchestration (detected to written) ${failover.orchestrationSeconds ?? '-'} s`,
    `  traffic moved         ${at(failover.trafficRestoredAt)}${after(failover.trafficRestoredAt)}  propagation ` +
      `${step('propagation')} (modelled: ${run.loadBalancerPropagationSeconds} s), RTO ${seconds(failover.rtoSeconds)} s`,
    `  replacement launched  ${at(failover.replacementLaunchedAt)}${after(failover.replacementLaunchedAt)}`,
    `  redundancy restored   ${at(failover.redundancyRestoredAt)}${after(failover.redundancyRestoredAt)}`,
    `  RTO split             ${split} = ${seconds(failover.rtoSeconds)} s`,
    `  failed requests       ${failover.failedInWindow} per loss (sent between the death and the traffic moved); ` +
      `${failover.failedOutsideWindow} outside that window; ${failover.failedRequests} in all`,
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
