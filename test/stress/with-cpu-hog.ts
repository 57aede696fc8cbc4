import { type ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * `npm run test:stress [-- jest arguments]`: runs jest (the e2e tier unless told otherwise) with a CPU hog on every
 * core beside it, to show that a busy machine gives slower runs, not failed tests. Not part of `npm test`.
 *
 * Each hog is a Node process that spins in 50 ms slices. It stops when this script ends (its IPC channel closes, even
 * if this process is killed) or after the time limit, whichever comes first, so no hog outlives the run.
 */

const HOG_LIMIT_MS = 60 * 60_000;
const SLICE_MS = 50;
const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

const hogSource = `
const end = Date.now() + ${HOG_LIMIT_MS};
process.on('disconnect', () => process.exit(0));
const spin = () => {
  const until = Date.now() + ${SLICE_MS};
  while (Date.now() < until) {}
  if (Date.now() < end) setImmediate(spin);
  else process.exit(0);
};
spin();
`;

function startHogs(count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', hogSource], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }),
  );
}

async function main(): Promise<number> {
  const jestArgs = process.argv.slice(2);
  const args = jestArgs.length > 0 ? jestArgs : ['test/e2e'];
  const cores = os.availableParallelism();
  const hogs = startHogs(cores);
  process.stdout.write(`test:stress: ${hogs.length} CPU hogs (one per core) beside jest ${args.join(' ')}\n`);
  const started = Date.now();
  const loads: number[] = [];
  const sampler = setInterval(() => loads.push(os.loadavg()[0] ?? 0), 10_000);
  const stopHogs = () => {
    for (const hog of hogs) if (hog.exitCode === null && hog.pid !== undefined) process.kill(hog.pid, 'SIGTERM');
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      stopHogs();
      process.exit(130);
    });
  }
  try {
    const jest = spawn(process.execPath, [require.resolve('jest/bin/jest'), ...args], {
      cwd: PROJECT_ROOT,
      stdio: 'inherit',
    });
    const code = await new Promise<number>((resolve) => jest.on('exit', (exitCode) => resolve(exitCode ?? 1)));
    const minutes = ((Date.now() - started) / 60_000).toFixed(1);
    const peak = Math.max(0, ...loads).toFixed(1);
    process.stdout.write(
      `test:stress: jest exited ${code} after ${minutes} min; peak 1-minute load ${peak} on ${cores} cores\n`,
    );
    return code;
  } finally {
    clearInterval(sampler);
    stopHogs();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test:stress: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
