/**
 * Runs the fault matrix (`npm run test:faults`: test/faults) and reports what it covered: the cases run by kind of
 * fault, and in how many every invariant held after the fault. A case that fails is a case whose invariants did not
 * all hold (or whose fault did not play out as planned); its name is printed.
 *
 * Run with `npx tsx bench/faults.ts`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mark, table } from './format';

const PROJECT_ROOT = path.resolve(__dirname, '..');
/** The matrix takes about a minute alone; this only stops one that hangs. */
const FAULT_MATRIX_LIMIT_MS = 20 * 60 * 1000;

export interface FaultCase {
  readonly name: string;
  readonly kind: string;
  readonly passed: boolean;
}

export interface FaultMatrix {
  readonly cases: readonly FaultCase[];
  readonly durationSeconds: number;
  /** Set when jest could not run or report. */
  readonly error?: string;
}

/** The kinds of fault, by the words each case's name uses. */
const KINDS: readonly [string, RegExp][] = [
  ['stopped mid-run, then recovered', /stopped in/],
  ['execution timeout midway, then recovered', /execution timeout/],
  ['throttle on every mutating call', /throttle/],
  ['Lambda dies after its write', /dies right after/],
  ['started twice at once', /twice at once/],
  ['failover during maintenance', /interrupted by a failover/],
  ['DR region: drill, failback, failover', /DR region/],
];

export function measureFaultMatrix(): FaultMatrix {
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-faults-'));
  const output = path.join(workdir, 'results.json');
  const started = Date.now();
  try {
    const run = spawnSync('npx', ['jest', 'test/faults', '--json', `--outputFile=${output}`], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: FAULT_MATRIX_LIMIT_MS,
    });
    const durationSeconds = (Date.now() - started) / 1000;
    if (!fs.existsSync(output)) {
      return {
        cases: [],
        durationSeconds,
        error: `jest wrote no results: ${run.error?.message ?? run.stderr.slice(-400)}`,
      };
    }
    const results = JSON.parse(fs.readFileSync(output, 'utf8')) as {
      testResults: { assertionResults: { fullName: string; status: string }[] }[];
    };
    const cases = results.testResults.flatMap((file) =>
      file.assertionResults.map((assertion) => ({
        name: assertion.fullName,
        kind: KINDS.find(([, pattern]) => pattern.test(assertion.fullName))?.[0] ?? 'other',
        passed: assertion.status === 'passed',
      })),
    );
    return { cases, durationSeconds };
  } finally {
    fs.rmSync(workdir, { recursive: true, force: true });
  }
}

export function report(matrix: FaultMatrix): string {
  if (matrix.error) return `fault matrix did not run: ${matrix.error}`;
  const kinds = [...new Set(matrix.cases.map((faultCase) => faultCase.kind))];
  const rows = kinds.map((kind) => {
    const cases = matrix.cases.filter((faultCase) => faultCase.kind === kind);
    const held = cases.filter((faultCase) => faultCase.passed).length;
    return [kind, String(cases.length), String(held), mark(held === cases.length)];
  });
  const held = matrix.cases.filter((faultCase) => faultCase.passed).length;
  const failed = matrix.cases.filter((faultCase) => !faultCase.passed).map((faultCase) => `  ✗ ${faultCase.name}`);
  return [
    table(['fault', 'cases', 'invariants held', ''], rows, ['left', 'right', 'right']),
    `${matrix.cases.length} cases run, invariants held in ${held} (${matrix.durationSeconds.toFixed(0)} s)`,
    ...failed,
  ].join('\n');
}

if (require.main === module) {
  process.stdout.write(`${report(measureFaultMatrix())}\n`);
}
