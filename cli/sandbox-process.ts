import { type ChildProcessByStdio, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { PROJECT_ROOT } from '../cdk/paths';
import type { SandboxReport } from '../sandbox/report';

/**
 * `zerodown sandbox run` as a user starts it, in a process of its own, and what it left: exit code, output, report,
 * and whether any process still uses its scratch directory. The e2e tests and the bench run scenarios through it.
 */

/** A run of `zerodown sandbox run` as a user starts it, in its own process. */
export interface CliRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly report?: SandboxReport;
  /** The scratch directory the run used; no process may still name it once the run exits. */
  readonly workDir: string;
}

const CLI = path.join(__dirname, 'zerodown.cjs');
/**
 * How long a sandbox run may take before it is stopped. A run takes 20–80 s on an idle 2-core machine and about
 * twice that with a CPU hog on every core beside it (docs/testing.md has the figures). The limit is there only to stop
 * a run that hangs, so it sits far above both: a busy machine must give a slower run, never a failed one.
 */
export const RUN_LIMIT_MS = 600_000;

export function scenarioFile(name: string): string {
  return path.join(PROJECT_ROOT, 'sandbox', 'scenarios', `${name}.json`);
}

export async function runSandbox(
  scenario: string,
  options: { interruptWhen?: (stdout: string) => boolean } = {},
): Promise<CliRun> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-run-'));
  const reportFile = path.join(workDir, 'report.json');
  let interrupted = false;
  const run = spawnCli(['sandbox', 'run', '--scenario', scenario, '--report', reportFile, '--work-dir', workDir], {
    onOutput: (stdout) => {
      if (!interrupted && options.interruptWhen?.(stdout)) {
        interrupted = true;
        run.child.kill('SIGINT');
      }
    },
  });
  const { exitCode, stdout, stderr } = await run.ended(RUN_LIMIT_MS);
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

/** A run of one `zerodown` command, as a user types it. */
export interface CommandRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How long one CLI command may take before it is stopped: a patch followed with --watch, on a busy machine. */
export const COMMAND_LIMIT_MS = 480_000;

/** Runs `zerodown <args>` in its own process. The caller's AWS endpoint (a test worker's moto) does not leak in. */
export function runCommand(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CommandRun> {
  return spawnCli(args, { env }).ended(COMMAND_LIMIT_MS);
}

/**
 * Starts `zerodown <args>` in its own process and collects what it prints. The sandbox starts its own moto: an
 * endpoint set for the caller (a test worker's moto) must not leak into the command.
 */
function spawnCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; onOutput?: (stdout: string) => void } = {},
): {
  child: ChildProcessByStdio<null, Readable, Readable>;
  output: () => CommandRun;
  ended: (limitMs: number) => Promise<CommandRun>;
} {
  const env = { ...process.env, ...options.env };
  delete env.AWS_ENDPOINT_URL;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    options.onOutput?.(stdout);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => ({ exitCode: child.exitCode, stdout, stderr }),
    ended: async (limitMs) => {
      // The limit only stops a command that hangs.
      const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
      const exitCode = await exited;
      clearTimeout(timer);
      return { exitCode, stdout, stderr };
    },
  };
}

/** A sandbox that `zerodown sandbox up` keeps running, for the CLI to drive through its endpoint. */
export interface SandboxUp {
  readonly endpoint: string;
  readonly cluster: string;
  readonly workDir: string;
  /** What it printed so far. */
  output(): string;
  /** Stops it as Ctrl-C would, and waits until it has stopped what it started. */
  stop(): Promise<number | null>;
}

/** How long a sandbox may take to come up: nodes boot in seconds, twice that on a busy machine. */
export const UP_LIMIT_MS = 300_000;

export async function startSandboxUp(scenario: string): Promise<SandboxUp> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-up-'));
  const handleFile = path.join(workDir, 'up.json');
  const run = spawnCli(['sandbox', 'up', '--scenario', scenario, '--work-dir', workDir, '--handle-file', handleFile]);
  const { child } = run;
  const output = () => `${run.output().stdout}${run.output().stderr}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGINT');
    return (await run.ended(120_000)).exitCode;
  };
  const deadline = Date.now() + UP_LIMIT_MS;
  while (!fs.existsSync(handleFile)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`zerodown sandbox up did not come up:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const handle = JSON.parse(fs.readFileSync(handleFile, 'utf8')) as { endpoint: string; cluster: string };
  return { endpoint: handle.endpoint, cluster: handle.cluster, workDir, output, stop };
}
