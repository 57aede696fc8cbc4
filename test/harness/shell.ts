import { type ChildProcess, spawn } from 'node:child_process';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a shell script with /bin/sh and only the environment given. Asynchronous, so stand-in servers in the test's
 * own process go on answering it (spawnSync would block them).
 */
export function runScript(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ScriptRun> {
  const child = spawn('/bin/sh', [file, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({ status, stdout: output.stdout(), stderr: output.stderr() })),
  );
}

/** What the child writes, as it writes it. */
function collectOutput(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

/** Starts the server on a free loopback port, and gives its URL and a way to close it. */
export async function listenOnLoopback(server: http.Server): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Starts the server on one loopback address (any of 127.0.0.0/8 on Linux) and port, 0 for a free one. Closing drops
 * the connections still open, such as those of a stand-in that accepts requests and never answers them.
 */
export async function listenOnAddress(
  server: http.Server,
  host: string,
  port = 0,
): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface RunningScript {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Whether the script itself has not exited yet. */
  running(): boolean;
  /** Kills the script's whole process group (its background jobs and their children too), and waits until it is gone. */
  stop(): Promise<void>;
}

/**
 * Starts a long-running shell script with /bin/sh and only the environment given, in its own process group, so that
 * stopping it takes what it started along.
 */
export function startScript(file: string, args: readonly string[], env: NodeJS.ProcessEnv): RunningScript {
  const child = spawn('/bin/sh', [file, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output = collectOutput(child);
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    child,
    ...output,
    running: () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group is gone already.
        }
      }
      await closed;
    },
  };
}
