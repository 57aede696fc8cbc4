import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freeNodePort } from '../../local/moto-server';
import { runControl } from '../../sandbox/node/control';
import { httpRequest } from '../../sandbox/node/protocol';
import { type NodeServer, type NodeServerOptions, startNodeServer } from '../../sandbox/node/server';

/**
 * The reference node's `zerodown-node reconfigure` (the control script the node kit's document runs on the reference
 * cluster and in the sandbox): a worker follows a manager that a failover replaced at a new address, and keeps
 * following it after a restart.
 */

const OLD_MANAGER_IP = '127.0.9.21';
const NEW_MANAGER_IP = '127.0.9.22';
const WORKER_IP = '127.0.9.23';
const WAIT_LIMIT_MS = 30_000;

const servers: NodeServer[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-reconfigure-'));
  tempDirs.push(dir);
  return dir;
}

async function startNode(options: Pick<NodeServerOptions, 'id' | 'ip' | 'role' | 'port'> & Partial<NodeServerOptions>) {
  const dataDir = options.dataDir ?? tempDir();
  const server = await startNodeServer({
    dataDir,
    dbFile: path.join(dataDir, 'db.json'),
    version: '1.0.0',
    bootMs: 50,
    syncIntervalMs: 50,
    shutdownGraceMs: 200,
    log: () => undefined,
    ...options,
  });
  servers.push(server);
  return { server, dataDir };
}

const control = (server: NodeServer, ...argv: string[]) => runControl(argv, { ZERODOWN_NODE_URL: server.url });

async function waitForService(server: NodeServer, service: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (Date.now() < deadline) {
    const answer = await httpRequest(`${server.url}/services/${service}`, { timeoutMs: WAIT_LIMIT_MS });
    if (answer.status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${service} never reached ${server.url}`);
}

describe('zerodown-node reconfigure on the reference node', () => {
  it('makes a worker pull from the new manager, for good, and does nothing the second time', async () => {
    const port = await freeNodePort();
    const oldManager = await startNode({ id: 'i-old', ip: OLD_MANAGER_IP, role: 'manager', port });
    const newManager = await startNode({ id: 'i-new', ip: NEW_MANAGER_IP, role: 'manager', port });
    const worker = await startNode({
      id: 'i-worker',
      ip: WORKER_IP,
      role: 'worker',
      port,
      managerUrl: oldManager.server.url,
    });
    expect((await control(newManager.server, 'deploy', '--artifact', 's3://releases/payments.car')).exitCode).toBe(0);

    const args = ['reconfigure', '--members', `${NEW_MANAGER_IP},${WORKER_IP}`, '--manager', NEW_MANAGER_IP];
    expect(await control(worker.server, ...args)).toEqual({
      exitCode: 0,
      stdout: `reconfigured: file sync pulls from http://${NEW_MANAGER_IP}:${port}\n`,
      stderr: '',
    });
    await waitForService(worker.server, 'payments');
    expect((await control(worker.server, ...args)).stdout).toBe(
      `nothing to do: file sync pulls from http://${NEW_MANAGER_IP}:${port}\n`,
    );

    // Restarted with the address it booted with, the worker keeps the one reconfigure gave it.
    await worker.server.close();
    const restarted = await startNode({
      id: 'i-worker',
      ip: WORKER_IP,
      role: 'worker',
      port,
      dataDir: worker.dataDir,
      managerUrl: oldManager.server.url,
    });
    expect((await control(newManager.server, 'deploy', '--artifact', 's3://releases/billing.car')).exitCode).toBe(0);
    await waitForService(restarted.server, 'billing');
  });

  it('refuses addresses that are not IPv4, before touching the node', async () => {
    const node = await startNode({ id: 'i-worker', ip: WORKER_IP, role: 'worker', port: await freeNodePort() });
    for (const argv of [
      ['reconfigure', '--members', '127.0.9.22;reboot', '--manager', NEW_MANAGER_IP],
      ['reconfigure', '--members', NEW_MANAGER_IP, '--manager', 'manager.example.com'],
      ['reconfigure', '--members', NEW_MANAGER_IP],
    ]) {
      const result = await control(node.server, ...argv);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/--members|--manager/);
    }
    const state = JSON.parse(fs.readFileSync(path.join(node.dataDir, 'state.json'), 'utf8')) as object;
    expect(state).not.toHaveProperty('managerUrl');
  });
});
