import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { pythonTools } from './python-tools';

export interface MotoServer {
  readonly pid: number;
  readonly port: number;
  readonly endpoint: string;
}

const LAUNCHER = path.join(__dirname, 'moto_launcher.py');
/** moto is ready in about a second; a busy machine may take many times that. The limit only stops a moto that hangs. */
const READY_TIMEOUT_MS = 120_000;
/** A reset takes 10–120 ms; the limit only stops one that hangs. */
const RESET_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/**
 * A port that no process is listening on at any address, for the cluster's nodes to listen on at their private IPs
 * (127.0.1.4, 127.0.2.4, ... in every moto VPC, so every test worker and sandbox has nodes on the same addresses).
 * A port free on 127.0.0.1 may still be taken on 127.0.1.4 by another worker's node; the wildcard probe sees every
 * loopback address at once. It is closed before it could accept anything.
 */
export function freeNodePort(): Promise<number> {
  return freeLoopbackPort('0.0.0.0');
}

export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitUntilReady(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with code ${child.exitCode} before it was ready:\n${output()}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

/**
 * Starts moto_server on a free loopback port and waits until it answers. It runs with the Python that
 * local/python-tools.ts resolves ($ZERODOWN_PYTHON, the project's .cache/python/venv, or python3), which sets the
 * tools up first where the machine lacks them, or stops with a message that says what to install.
 */
export async function startMotoServer(logDir: string, host = '127.0.0.1'): Promise<MotoServer> {
  const { python } = pythonTools();
  const port = await freeLoopbackPort(host);
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `moto-${port}.log`);
  // A file, not a pipe: moto logs every request, and a pipe nobody drains would block it.
  const logFd = fs.openSync(logFile, 'w');
  const child = spawn(python, [LAUNCHER, '-H', host, '-p', String(port)], {
    stdio: ['ignore', logFd, logFd],
    env: {
      ...process.env,
      // Loading ~1,200 default AMIs after every reset costs up to 330 ms; the tests register the images they use.
      MOTO_EC2_LOAD_DEFAULT_AMIS: 'false',
    },
  });
  fs.closeSync(logFd);
  child.unref();
  const endpoint = `http://${host}:${port}`;
  const logTail = () => fs.readFileSync(logFile, 'utf8').slice(-4_000);
  try {
    await waitUntilReady(endpoint, child, logTail);
  } catch (error) {
    if (child.pid) await stopProcess(child.pid);
    throw error;
  }
  if (child.pid === undefined) throw new Error('moto_server started without a pid');
  return { pid: child.pid, port, endpoint };
}

/** Whether a process with this PID exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if the process is still there after a grace period. Only for processes we started. */
export async function stopProcess(pid: number, graceMs = STOP_GRACE_MS): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

export async function resetMotoServer(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/reset`, {
    method: 'POST',
    signal: AbortSignal.timeout(RESET_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
}
