import { spawn } from 'node:child_process';
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
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
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
