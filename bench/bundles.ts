/**
 * Measures every Lambda handler bundle as the ZeroDownFunction construct builds it: minified size, gzip size, the
 * largest packages inside, and the cold module-load time in a fresh Node process. Sums the module loads of the
 * functions a failover calls before the weights move: the failover's critical path cold start.
 *
 * Run with `npx tsx bench/bundles.ts`. It reports against the targets and always exits 0 when the measurement
 * itself succeeds.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { buildLambdaBundle, buildPowertoolsLayer, LAYER_MODULES_DIR } from '../cdk/bundling';
import { FAILOVER_STATES } from '../statemachines/failover';
import { KIB, kb, kbShort, mark, ms, table } from './format';

const PROJECT_ROOT = path.resolve(__dirname, '..');
const FUNCTIONS_DIR = path.join(PROJECT_ROOT, 'functions');

export const TARGETS = {
  /** Minified bundle size, source map excluded. */
  maxBytes: 250 * KIB,
  /** Median time to `require` the bundle in a fresh process, the Powertools layer's modules included. */
  maxLoadMs: 150,
} as const;

/**
 * The functions a failover calls before the weights move, each with the states that call it: the critical path of
 * statemachines/failover.ts (ops.confirmNodeLoss, ops.clusterLock, ops.shiftTraffic), named by the entry files that
 * cdk/constructs/node-operations.ts builds them from. The states between are Pass and Choice states; the lock is read
 * first ("Read the cluster lock") only for a node that carried no traffic, and a pre-empted workflow's commands are
 * cancelled (run-command) only when a workflow held the lock: neither is on the path of a lost serving node.
 */
export const FAILOVER_CRITICAL_PATH: readonly { readonly name: string; readonly states: readonly string[] }[] = [
  { name: 'confirm-node-loss', states: [FAILOVER_STATES.confirmLoss, FAILOVER_STATES.workOutMove] },
  { name: 'cluster-lock', states: [FAILOVER_STATES.takeLock] },
  { name: 'shift-traffic', states: [FAILOVER_STATES.moveTraffic] },
];

/** Dummy values for the environment variables handlers read at module load. */
const LOAD_ENV: Record<string, string> = {
  LOCK_TABLE_NAME: 'bench',
  TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:bench',
  CLUSTER_NAME: 'bench',
  AWS_REGION: 'us-east-1',
  FAILOVER_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:zerodown-bench-failover',
  NODE_ALARMS: '[]',
};

const LOAD_TIMEOUT_MS = 30_000;
const DEFAULT_RUNS = 5;

/** Runs in the child process: times only the `require` of the bundle named by the first argument. */
const LOAD_SCRIPT = [
  "const { performance } = require('node:perf_hooks');",
  'const file = process.argv[1];',
  'const start = performance.now();',
  'require(file);',
  'const elapsed = performance.now() - start;',
  'process.stdout.write(JSON.stringify({ ms: elapsed }));',
].join('\n');

export interface Contributor {
  /** A package name such as `@aws-sdk/client-ec2`, or `(own code)` for the project's files. */
  readonly name: string;
  /** Bytes this package contributes to the minified output. */
  readonly bytes: number;
}

export type LoadResult =
  | {
      readonly ok: true;
      readonly runsMs: readonly number[];
      readonly medianMs: number;
      readonly minMs: number;
      readonly maxMs: number;
    }
  | { readonly ok: false; readonly error: string };

export interface BundleResult {
  /** The handler's name, such as `cluster-lock`. */
  readonly name: string;
  /** The entry file relative to the project root. */
  readonly entry: string;
  /** Minified bundle size in bytes, without the source map. */
  readonly bytes: number;
  readonly gzipBytes: number;
  /** Every package in the bundle, largest first. */
  readonly contributors: readonly Contributor[];
  readonly load: LoadResult;
  readonly meetsSize: boolean;
  /** False when the load time could not be measured. */
  readonly meetsLoad: boolean;
}

export interface LayerResult {
  /** The layer's JavaScript, minified, source maps excluded: what every function loads beside its own bundle. */
  readonly bytes: number;
  readonly gzipBytes: number;
}

export interface BundleMeasurements {
  readonly targets: typeof TARGETS;
  readonly layer: LayerResult;
  readonly runs: number;
  readonly bundles: readonly BundleResult[];
}

export interface MeasureOptions {
  /** Module-load runs per bundle. @default 5 */
  readonly runs?: number;
  /** Called with a line of progress as the measurement goes. @default - silent */
  readonly onProgress?: (message: string) => void;
}

/** The handler entry files: the `*.ts` files directly in `functions/`, sorted by name. */
export function handlerEntries(): string[] {
  return fs
    .readdirSync(FUNCTIONS_DIR, { withFileTypes: true })
    .filter((dirent) => dirent.isFile() && dirent.name.endsWith('.ts') && !dirent.name.endsWith('.d.ts'))
    .map((dirent) => path.join('functions', dirent.name))
    .sort();
}

/** Builds, sizes and load-times every handler bundle. */
export async function measureBundles(options: MeasureOptions = {}): Promise<BundleMeasurements> {
  const runs = options.runs ?? DEFAULT_RUNS;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got ${runs}`);
  const progress = options.onProgress ?? (() => {});

  // Outside the project, so a bundle finds Powertools where Lambda finds it, in the layer, and not in node_modules.
  const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-bench-bundles-'));
  try {
    const entries = handlerEntries();
    progress(`Building ${entries.length} bundles and the Powertools layer into ${outRoot}`);
    const layerDir = path.join(outRoot, 'layer');
    await buildPowertoolsLayer(layerDir);
    const layer = measureLayer(layerDir);
    const built = await Promise.all(entries.map((entry) => buildBundle(entry, outRoot)));

    const bundles: BundleResult[] = [];
    for (const bundle of built) {
      progress(`Loading ${bundle.name} (${runs} runs)`);
      const load = measureLoad(bundle.outfile, runs, path.join(layerDir, LAYER_MODULES_DIR));
      const { outfile: _outfile, ...rest } = bundle;
      bundles.push({
        ...rest,
        load,
        meetsSize: bundle.bytes < TARGETS.maxBytes,
        meetsLoad: load.ok && load.medianMs < TARGETS.maxLoadMs,
      });
    }
    return { targets: TARGETS, layer, runs, bundles };
  } finally {
    fs.rmSync(outRoot, { recursive: true, force: true });
  }
}

interface BuiltBundle extends Omit<BundleResult, 'load' | 'meetsSize' | 'meetsLoad'> {
  readonly outfile: string;
}

/** Bundles one entry with the options ZeroDownFunction gives NodejsFunction. */
async function buildBundle(entry: string, outRoot: string): Promise<BuiltBundle> {
  const name = path.basename(entry, '.ts');
  const outfile = path.join(outRoot, name, 'index.js');
  const result = await buildLambdaBundle(entry, outfile);

  const code = fs.readFileSync(outfile);
  const outputKey = path.relative(PROJECT_ROOT, outfile).split(path.sep).join('/');
  const output = result.metafile.outputs[outputKey];
  if (!output) throw new Error(`esbuild's metafile has no output ${outputKey} for ${entry}`);

  return {
    name,
    entry,
    outfile,
    bytes: code.length,
    gzipBytes: zlib.gzipSync(code).length,
    contributors: contributors(output.inputs),
  };
}

/** Sums the output bytes of each input file by the package it belongs to, largest first. */
function contributors(inputs: Record<string, { bytesInOutput: number }>): Contributor[] {
  const totals = new Map<string, number>();
  for (const [file, { bytesInOutput }] of Object.entries(inputs)) {
    const name = packageOf(file);
    totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
  }
  return [...totals]
    .map(([name, bytes]) => ({ name, bytes }))
    .filter((contributor) => contributor.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

/** The package a metafile input path belongs to: the one under its innermost `node_modules`. */
function packageOf(file: string): string {
  const parts = file.split('/');
  const index = parts.lastIndexOf('node_modules');
  if (index === -1) return '(own code)';
  const first = parts[index + 1];
  if (first === undefined) return '(own code)';
  if (first.startsWith('@')) {
    const second = parts[index + 2];
    return second === undefined ? first : `${first}/${second}`;
  }
  return first;
}

/** The JavaScript files of the built layer, summed. */
function measureLayer(layerDir: string): LayerResult {
  const files = fs
    .readdirSync(layerDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.js'))
    .map((file) => fs.readFileSync(path.join(layerDir, file)));
  return {
    bytes: files.reduce((sum, code) => sum + code.length, 0),
    gzipBytes: files.reduce((sum, code) => sum + zlib.gzipSync(code).length, 0),
  };
}

/**
 * Requires the bundle in `runs` fresh Node processes and summarises the time the `require` took. `layerModules` is on
 * NODE_PATH, as `/opt/nodejs/node_modules` is inside Lambda.
 */
function measureLoad(outfile: string, runs: number, layerModules: string): LoadResult {
  const env: NodeJS.ProcessEnv = { ...process.env, ...LOAD_ENV, NODE_PATH: layerModules };
  // Keep loader hooks or flags of the parent process out of the measurement.
  delete env.NODE_OPTIONS;

  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const child = spawnSync(process.execPath, ['-e', LOAD_SCRIPT, outfile], {
      cwd: path.dirname(outfile),
      env,
      encoding: 'utf8',
      timeout: LOAD_TIMEOUT_MS,
    });
    if (child.error) return { ok: false, error: `run ${run + 1}: ${child.error.message}` };
    if (child.status !== 0) {
      const reason = child.signal ? `signal ${child.signal}` : `exit code ${child.status}`;
      return { ok: false, error: `run ${run + 1}: ${reason}: ${lastErrorLine(child.stderr)}` };
    }
    const elapsed = parseElapsed(child.stdout);
    if (elapsed === undefined)
      return { ok: false, error: `run ${run + 1}: unexpected output ${JSON.stringify(child.stdout)}` };
    times.push(elapsed);
  }
  return { ok: true, runsMs: times, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
}

function parseElapsed(stdout: string): number | undefined {
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (typeof parsed === 'object' && parsed !== null && 'ms' in parsed && typeof parsed.ms === 'number') {
      return parsed.ms;
    }
  } catch {
    // Reported by the caller.
  }
  return undefined;
}

function lastErrorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => /\w*Error\b/.test(line));
  return lines[0]?.trim() ?? (stderr.trim().split('\n').pop() || 'no output');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  if (sorted.length % 2 === 1) return upper;
  return ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

export interface CriticalPathColdStart {
  /** The critical path's functions, each once, with its median module load; undefined when it was not measured. */
  readonly parts: readonly { readonly name: string; readonly states: readonly string[]; readonly medianMs?: number }[];
  /** The sum of the medians; undefined when any part is missing. */
  readonly totalMs?: number;
}

/** The failover's critical path cold start: the median module load of each function on it, each counted once. */
export function failoverColdStart(bundles: readonly BundleResult[]): CriticalPathColdStart {
  const parts = FAILOVER_CRITICAL_PATH.map(({ name, states }) => {
    const load = bundles.find((bundle) => bundle.name === name)?.load;
    return { name, states, ...(load?.ok ? { medianMs: load.medianMs } : {}) };
  });
  const measured = parts.flatMap((part) => (part.medianMs === undefined ? [] : [part.medianMs]));
  return measured.length === parts.length
    ? { parts, totalMs: measured.reduce((sum, value) => sum + value, 0) }
    : { parts };
}

/** The failover's critical path cold start, its parts, and what the figure leaves out. */
function coldStartReport(bundles: readonly BundleResult[], runs: number): string[] {
  const { parts, totalMs } = failoverColdStart(bundles);
  return [
    `Failover critical path cold start (each function once): ${totalMs === undefined ? 'not measured' : `${ms(totalMs)} ms`}`,
    table(
      ['function', 'load ms median', 'called by'],
      parts.map((part) => [
        part.name,
        part.medianMs === undefined ? 'not measured' : ms(part.medianMs),
        part.states.map((state) => `"${state}"`).join(', '),
      ]),
      ['left', 'right', 'left'],
    ),
    `The sum of the medians (of ${runs} runs) of the module loads above: the time to \`require\` each bundle (its`,
    'module-level code included) in a fresh Node process on this machine, the Powertools layer on NODE_PATH as in',
    'Lambda. It leaves out what Lambda adds to a cold start (starting the execution environment and the Node runtime,',
    "fetching the code) and a first call's own costs (credentials and the TLS connection of its first AWS request).",
    'confirm-node-loss counts once: its second call comes after its first returned, and normally finds the environment',
    'that call left warm. Each is paid only when no warm environment of the function is available; provisioned',
    'concurrency on these three removes it.',
  ];
}

/** The results as a table, a one-line summary, then the failover critical path cold start. */
export function report(measurements: BundleMeasurements): string {
  const { bundles, targets, runs, layer } = measurements;
  const rows = bundles.map((bundle) => [
    bundle.name,
    kb(bundle.bytes),
    kb(bundle.gzipBytes),
    bundle.load.ok ? `${ms(bundle.load.medianMs)} (${ms(bundle.load.minMs)}–${ms(bundle.load.maxMs)})` : 'failed',
    bundle.contributors
      .slice(0, 3)
      .map((contributor) => `${contributor.name} ${kbShort(contributor.bytes)}`)
      .join(', '),
    `size ${mark(bundle.meetsSize)} load ${bundle.load.ok ? mark(bundle.meetsLoad) : '?'}`,
  ]);
  const lines = [
    `Targets: bundle < ${kbShort(targets.maxBytes)} minified, module load < ${targets.maxLoadMs} ms (median of ${runs} runs)`,
    `Powertools layer, shared by every function and loaded with each: ${kb(layer.bytes)} KB (${kb(layer.gzipBytes)} KB gzip)`,
    '',
    table(['function', 'bundle KB', 'gzip KB', 'load ms median (min–max)', 'largest contributors', 'targets'], rows, [
      'left',
      'right',
      'right',
      'right',
      'left',
      'left',
    ]),
    '',
  ];
  for (const bundle of bundles) {
    if (!bundle.load.ok) lines.push(`${bundle.name}: load failed: ${bundle.load.error}`);
  }
  const meetSize = bundles.filter((bundle) => bundle.meetsSize).length;
  const meetLoad = bundles.filter((bundle) => bundle.meetsLoad).length;
  lines.push(
    `Summary: ${meetSize}/${bundles.length} bundles meet the size target, ${meetLoad}/${bundles.length} meet the load target.`,
    '',
    ...coldStartReport(bundles, runs),
  );
  return lines.join('\n');
}

if (require.main === module) {
  measureBundles({ onProgress: (message) => process.stderr.write(`${message}\n`) }).then(
    (measurements) => {
      process.stdout.write(`${report(measurements)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
