import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { freeNodePort } from '../../local/moto-server';
import { runControl } from '../../sandbox/node/control';
import { compareVersions, httpRequest, type NodeStatus } from '../../sandbox/node/protocol';
import { type NodeServer, type NodeServerOptions, startNodeServer } from '../../sandbox/node/server';
import { useNodeServers } from '../harness/node-servers';

const MANAGER_IP = '127.0.9.1';
const WORKER_IP = '127.0.9.2';
const BOOT_MS = 150;
const SYNC_INTERVAL_MS = 50;
/**
 * How long a test waits for a node to answer or for a condition to come true. It only stops a test whose condition
 * never comes true: the conditions take milliseconds on an idle machine, and a busy one may stretch that a
 * hundredfold, so the limit sits far above both.
 */
const WAIT_LIMIT_MS = 30_000;
const SERVER_ENTRY = path.join(__dirname, '..', '..', 'sandbox', 'node', 'server.ts');
const CONTROL_ENTRY = path.join(__dirname, '..', '..', 'sandbox', 'node', 'control.ts');

const children: ChildProcess[] = [];
const { servers, tempDir } = useNodeServers('zerodown-node-');

afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => stopChild(child)));
});

interface StartedNode {
  server: NodeServer;
  url: string;
  dataDir: string;
  options: NodeServerOptions;
}

async function startNode(overrides: Partial<NodeServerOptions> & Pick<NodeServerOptions, 'id' | 'ip' | 'role'>) {
  const dataDir = overrides.dataDir ?? tempDir();
  const options: NodeServerOptions = {
    port: await freeNodePort(),
    dataDir,
    dbFile: path.join(dataDir, 'db.json'),
    version: '1.0.0',
    bootMs: BOOT_MS,
    syncIntervalMs: SYNC_INTERVAL_MS,
    shutdownGraceMs: 500,
    log: () => undefined,
    ...overrides,
  };
  const server = await startNodeServer(options);
  servers.push(server);
  return { server, url: server.url, dataDir, options } satisfies StartedNode;
}

async function startCluster() {
  const dbFile = path.join(tempDir(), 'cluster-db.json');
  const manager = await startNode({ id: 'i-manager', ip: MANAGER_IP, role: 'manager', dbFile });
  const worker = await startNode({
    id: 'i-worker',
    ip: WORKER_IP,
    role: 'worker',
    dbFile,
    managerUrl: manager.url,
  });
  return { manager, worker, dbFile };
}

async function get(url: string) {
  const result = await httpRequest(url, { timeoutMs: WAIT_LIMIT_MS });
  return { status: result.status, text: result.body.toString('utf8'), headers: result.headers };
}

async function post(url: string, body: unknown) {
  const result = await httpRequest(url, { method: 'POST', body, timeoutMs: WAIT_LIMIT_MS });
  return { status: result.status, json: JSON.parse(result.body.toString('utf8')) as Record<string, unknown> };
}

function control(node: { url: string } | string, ...argv: string[]) {
  return runControl(argv, { ZERODOWN_NODE_URL: typeof node === 'string' ? node : node.url });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function syncRounds(node: { url: string }): Promise<number> {
  return (JSON.parse((await get(`${node.url}/_control/status`)).text) as NodeStatus).syncRounds;
}

/** Waits until the node has finished two more file sync rounds: one may have begun before the change under test. */
async function twoSyncRounds(node: { url: string }): Promise<void> {
  const from = await syncRounds(node);
  await waitFor('two more sync rounds', async () => (await syncRounds(node)) >= from + 2);
}

async function serviceStatus(node: { url: string }, service: string): Promise<number> {
  return (await get(`${node.url}/services/${service}`)).status;
}

/** A traffic request on a keep-alive agent, to see what the node does with the connection afterwards. */
function keepAliveGet(url: string, agent: http.Agent) {
  return new Promise<{ status: number; body: string; connection: string | undefined; socketClosed: Promise<void> }>(
    (resolve, reject) => {
      const request = http.get(url, { agent }, (response) => {
        const socket = response.socket;
        const socketClosed = new Promise<void>((done) => {
          if (socket.destroyed) done();
          else socket.once('close', () => done());
        });
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            connection: response.headers.connection,
            socketClosed,
          }),
        );
      });
      request.on('error', reject);
    },
  );
}

async function connectionRefused(url: string): Promise<boolean> {
  try {
    await httpRequest(`${url}/health`, { timeoutMs: 1_000 });
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

describe('reference node server', () => {
  it('answers health, version, services and traffic', async () => {
    const { manager } = await startCluster();

    const health = await get(`${manager.url}/health`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'ok', id: 'i-manager', version: '1.0.0', role: 'manager' });
    const version = await get(`${manager.url}/version`);
    expect(version).toMatchObject({ status: 200, text: '1.0.0' });
    expect(version.headers['content-type']).toMatch(/^text\/plain/);
    expect(await get(`${manager.url}/orders/42`)).toMatchObject({ status: 200, text: 'i-manager 1.0.0 ok' });
    expect(await serviceStatus(manager, 'orders-api')).toBe(404);

    await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://artifacts/orders-api/1.0.0.car');
    const service = await get(`${manager.url}/services/orders-api`);
    expect(service.status).toBe(200);
    expect(JSON.parse(service.text)).toMatchObject({
      service: 'orders-api',
      artifact: 's3://artifacts/orders-api/1.0.0.car',
      deployedAt: expect.any(String),
    });
    expect(fs.existsSync(path.join(manager.dataDir, 'deployment', 'orders-api.json'))).toBe(true);
  });

  it('restarts onto a new version: the port goes down, an in-flight request completes, it comes back on it', async () => {
    // The node logs that it restarts just before it stops listening, in the same turn: a connection attempted from
    // the log line is made after the port went down and before the node can boot again, however busy the machine.
    let refusedWhileRestarting: Promise<boolean> | undefined;
    let url = '';
    const manager = await startNode({
      id: 'i-manager',
      ip: MANAGER_IP,
      role: 'manager',
      bootMs: 400,
      log: (event) => {
        if (event.event === 'restarting') refusedWhileRestarting ??= connectionRefused(url);
      },
    });
    url = manager.url;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // The connection is open and accepted before the restart, so the slow request cannot be caught in the accept
      // queue when the port closes: it is on a connection the node keeps until the request is answered.
      await keepAliveGet(`${manager.url}/warm-up`, agent);
      const inFlight = keepAliveGet(`${manager.url}/checkout?delay-ms=700`, agent);
      await sleep(100);

      const result = await control(manager, 'upgrade', '--version', '2.0.0');

      expect(await refusedWhileRestarting).toBe(true);

      expect(result).toMatchObject({ exitCode: 0, stderr: '' });
      expect(result.stdout).toMatch(/restarted in \d+ ms, now at version 2\.0\.0/);
      expect(await get(`${manager.url}/version`)).toMatchObject({ status: 200, text: '2.0.0' });
      const slow = await withDeadline(inFlight, WAIT_LIMIT_MS, 'the in-flight request');
      // Served by the node as it was before the restart, and its keep-alive connection closed afterwards.
      expect(slow).toMatchObject({ status: 200, body: 'i-manager 1.0.0 ok', connection: 'close' });
      await withDeadline(slow.socketClosed, WAIT_LIMIT_MS, 'the keep-alive connection to close');
    } finally {
      agent.destroy();
    }
  });

  it('keeps the patched version and patch list across a process restart', async () => {
    const first = await startNode({ id: 'i-manager', ip: MANAGER_IP, role: 'manager' });
    const patched = await control(
      first,
      'patch',
      '--patch-id',
      'WSO2-CARBON-PATCH-4.4.0-1234',
      '--version',
      '1.0.0-p1',
    );
    expect(patched.exitCode).toBe(0);
    expect(patched.stdout).toContain('now at version 1.0.0-p1');
    const again = await control(first, 'patch', '--patch-id', 'WSO2-CARBON-PATCH-4.4.0-1234');
    expect(again).toMatchObject({ exitCode: 0 });
    expect(again.stdout).toContain('nothing to do');
    await first.server.close();

    const second = await startNode({ ...first.options, port: first.options.port, version: '1.0.0' });
    expect(await get(`${second.url}/version`)).toMatchObject({ text: '1.0.0-p1' });
    const status = await control(second, 'status');
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain('version 1.0.0-p1');
    expect(status.stdout).toContain('patches: WSO2-CARBON-PATCH-4.4.0-1234');
  });

  it('raises the update level on a patch without a version: 1.0.0 with P42 reports 1.0.0-P42', async () => {
    const node = await startNode({ id: 'i-manager', ip: MANAGER_IP, role: 'manager' });
    const patched = await control(node, 'patch', '--patch-id', 'P42');
    expect(patched.exitCode).toBe(0);
    expect(await get(`${node.url}/version`)).toMatchObject({ text: '1.0.0-P42' });
    const next = await control(node, 'patch', '--patch-id', 'P43');
    expect(next.stdout).toContain('now at version 1.0.0-P43');
  });

  it('answers a restart with 202 and the boot id to wait past, and validates what it is given', async () => {
    const manager = await startNode({ id: 'i-manager', ip: MANAGER_IP, role: 'manager' });
    const before = JSON.parse((await get(`${manager.url}/health`)).text) as { bootId: string };

    expect(await post(`${manager.url}/_control/restart`, { version: 'not a version' })).toMatchObject({
      status: 400,
      json: { error: expect.stringContaining('version must be') },
    });
    const accepted = await post(`${manager.url}/_control/restart`, { patchId: 'P7' });
    expect(accepted).toMatchObject({
      status: 202,
      json: { accepted: true, previousBootId: before.bootId, version: '1.0.0', patchId: 'P7', bootMs: BOOT_MS },
    });
    await waitFor('the node to come back', async () => {
      const health = await httpRequest(`${manager.url}/health`, { timeoutMs: 500 }).catch(() => undefined);
      return health?.status === 200 && !health.body.toString().includes(before.bootId);
    });
    const status = JSON.parse((await get(`${manager.url}/_control/status`)).text) as { patches: string[] };
    expect(status.patches).toEqual(['P7']);
  });

  it('syncs a deploy on the manager to the worker', async () => {
    const { manager, worker } = await startCluster();

    const deployed = await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders.car');
    expect(deployed).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('deployed orders-api') });

    await waitFor('the worker to receive orders-api', async () => (await serviceStatus(worker, 'orders-api')) === 200);
    expect(JSON.parse((await get(`${worker.url}/services/orders-api`)).text)).toMatchObject({
      service: 'orders-api',
      artifact: 's3://a/orders.car',
    });
  });

  it('keeps a deploy off the worker while sync is paused on the manager, and delivers it on resume', async () => {
    const { manager, worker } = await startCluster();
    await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders-1.car');
    await waitFor(
      'the first deploy to reach the worker',
      async () => (await serviceStatus(worker, 'orders-api')) === 200,
    );

    expect(await control(manager, 'sync-pause')).toMatchObject({
      exitCode: 0,
      stdout: expect.stringContaining('paused'),
    });
    expect((await get(`${manager.url}/_sync/manifest`)).status).toBe(503);
    await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders-2.car');
    await control(manager, 'deploy', '--service', 'billing', '--artifact', 'https://repo.example.com/billing.war');
    await twoSyncRounds(worker);
    expect(JSON.parse((await get(`${worker.url}/services/orders-api`)).text)).toMatchObject({
      artifact: 's3://a/orders-1.car',
    });
    expect(await serviceStatus(worker, 'billing')).toBe(404);

    expect(await control(manager, 'sync-resume')).toMatchObject({ exitCode: 0 });
    await waitFor('the worker to receive billing', async () => (await serviceStatus(worker, 'billing')) === 200);
    await waitFor('the worker to receive the new orders-api', async () =>
      (await get(`${worker.url}/services/orders-api`)).text.includes('orders-2.car'),
    );
  });

  it('stops pulling while sync is paused on the worker', async () => {
    const { manager, worker } = await startCluster();
    expect(await control(worker, 'sync-pause')).toMatchObject({ exitCode: 0 });
    await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders.car');
    await twoSyncRounds(worker);
    expect(await serviceStatus(worker, 'orders-api')).toBe(404);
    expect((await control(worker, 'status')).stdout).toContain('file sync: paused');

    await control(worker, 'sync-resume');
    await waitFor('the worker to receive orders-api', async () => (await serviceStatus(worker, 'orders-api')) === 200);
  });

  it('propagates deletes: what the manager no longer has leaves the worker', async () => {
    const { manager, worker } = await startCluster();
    await control(manager, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders.car');
    await control(manager, 'deploy', '--service', 'billing', '--artifact', 's3://a/billing.car');
    await waitFor('both services on the worker', async () => (await serviceStatus(worker, 'billing')) === 200);
    const stray = path.join(worker.dataDir, 'deployment', 'stray.json');
    fs.writeFileSync(stray, '{"service":"stray","artifact":"s3://a/stray.car"}');

    expect(await control(manager, 'undeploy', '--service', 'billing')).toMatchObject({ exitCode: 0 });
    await waitFor('billing to leave the worker', async () => (await serviceStatus(worker, 'billing')) === 404);
    await waitFor('the stray file to leave the worker', async () => !fs.existsSync(stray));
    expect(await serviceStatus(worker, 'orders-api')).toBe(200);
  });

  it('refuses a deploy on a worker', async () => {
    const { worker } = await startCluster();

    const result = await control(worker, 'deploy', '--service', 'orders-api', '--artifact', 's3://a/orders.car');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/answered 409 .*i-worker.* worker node.*read-only.*manager/);
    expect(await post(`${worker.url}/_control/deploy`, { service: 'x', artifact: 's3://a/x' })).toMatchObject({
      status: 409,
    });
    expect(fs.readdirSync(path.join(worker.dataDir, 'deployment'))).toEqual([]);
  });

  it('migrates the shared database once, from any node, and refuses a downgrade', async () => {
    const { manager, worker, dbFile } = await startCluster();
    const readDb = () =>
      JSON.parse(fs.readFileSync(dbFile, 'utf8')) as { schemaVersion: string; migrations: unknown[] };

    expect(await control(manager, 'migrate', '--version', '4.2.0')).toMatchObject({
      exitCode: 0,
      stdout: 'database schema migrated from none to 4.2.0\n',
    });
    expect(await control(worker, 'migrate', '--version', '4.2.0')).toMatchObject({
      exitCode: 0,
      stdout: expect.stringContaining('already at 4.2.0'),
    });
    expect(readDb()).toMatchObject({ schemaVersion: '4.2.0', migrations: [{ from: null, to: '4.2.0' }] });
    expect(await control(worker, 'migrate', '--version', '4.10.0')).toMatchObject({ exitCode: 0 });
    expect(readDb().migrations).toHaveLength(2);

    const downgrade = await control(manager, 'migrate', '--version', '4.9.0');
    expect(downgrade.exitCode).toBe(1);
    expect(downgrade.stderr).toContain('refusing to downgrade the database schema from 4.10.0 to 4.9.0');
    expect(readDb().schemaVersion).toBe('4.10.0');
    expect((await control(manager, 'status')).stdout).toContain('database schema: 4.10.0');
    expect(fs.existsSync(`${dbFile}.lock`)).toBe(false);
  });

  it('orders versions as releases are numbered', () => {
    expect(compareVersions('4.10.0', '4.9.0')).toBe(1);
    expect(compareVersions('4.2.0-rc1', '4.2.0')).toBe(-1);
    expect(compareVersions('4.2.0-p1', '4.2.0-p2')).toBe(-1);
    expect(compareVersions('4.2.0+build7', '4.2.0')).toBe(0);
    expect(compareVersions('4.2', '4.2.0')).toBe(-1);
  });

  it('smoke-tests a service: fails while it is missing, passes once synced, fails on a node that is down', async () => {
    const { manager, worker } = await startCluster();

    const missing = await control(worker, 'smoke-test', '--service', 'orders-api');
    expect(missing).toMatchObject({ exitCode: 1, stdout: '' });
    expect(missing.stderr).toContain('service orders-api is not deployed on i-worker');

    await control(manager, 'deploy', '--artifact', 's3://artifacts/orders-api/1.4.0/orders-api.car');
    let passed = await control(worker, 'smoke-test', '--service', 'orders-api');
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (passed.exitCode !== 0 && Date.now() < deadline) {
      await sleep(SYNC_INTERVAL_MS);
      passed = await control(worker, 'smoke-test', '--service', 'orders-api');
    }
    expect(passed).toMatchObject({ exitCode: 0, stderr: '' });
    expect(passed.stdout).toContain('smoke test passed: orders-api');

    await worker.server.close();
    const down = await control(worker, 'smoke-test', '--service', 'orders-api');
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toMatch(/unhealthy: .*ECONNREFUSED/);
  });

  it.each([
    [[], 'an action is required'],
    [['reboot'], 'unknown action "reboot"'],
    [['status', '--force'], "Unknown option '--force'"],
    [['status', 'extra'], 'unexpected argument "extra"'],
    [['patch'], 'patch requires --patch-id'],
    [['patch', '--patch-id', '-rf'], "Option '--patch-id' argument is ambiguous"],
    [['patch', '--patch-id=-rf'], '--patch-id "-rf" is not valid'],
    [['patch', '--patch-id', 'P1; reboot'], '--patch-id "P1; reboot" is not valid'],
    [['upgrade', '--version', '../2.0'], '--version "../2.0" is not valid'],
    [['migrate', '--version', '$(id)'], '--version "$(id)" is not valid'],
    [['smoke-test', '--service', '1orders'], '--service "1orders" is not valid'],
    [['deploy', '--service', 'orders', '--artifact', 'http://a/b.car'], '--artifact must be an s3:// or https://'],
    [['deploy', '--service', 'orders', '--artifact', 'file:///etc/passwd'], '--artifact must be an s3:// or https://'],
    [['deploy', '--artifact', 's3://bucket/releases/1.4.0.car'], 'cannot name the service after the artifact'],
    [['sync-pause', '--version', '1.0.0'], 'sync-pause does not take --version'],
    [['status', '--node', 'ftp://127.0.9.1'], 'the node URL must be http:// or https://'],
  ])('rejects %j before calling the node: %s', async (argv, message) => {
    // Nothing listens there: a call that slipped through would fail with a connection error instead.
    const result = await control(`http://${MANAGER_IP}:9`, ...argv);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('usage: control.ts');
  });

  it('needs a node to talk to', async () => {
    const result = await runControl(['status'], {});
    expect(result).toMatchObject({ exitCode: 2 });
    expect(result.stderr).toContain('set ZERODOWN_NODE_URL or pass --node URL');
  });

  it('reports a node that cannot be reached', async () => {
    const result = await control(`http://${MANAGER_IP}:9`, 'status');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^status failed: cannot reach the node at http:\/\/127\.0\.9\.1:9: .*ECONNREFUSED/);
  });

  it('runs from the command line: listening line, control script, clean exit on SIGTERM', async () => {
    const dataDir = tempDir();
    const port = await freeNodePort();
    const args = ['--id', 'i-cli', '--ip', MANAGER_IP, '--port', String(port), '--data-dir', dataDir];
    const child = spawn(
      process.execPath,
      [
        require.resolve('tsx/cli'),
        SERVER_ENTRY,
        ...args,
        ...['--db', path.join(dataDir, 'db.json'), '--version', '3.1.0', '--role', 'manager', '--boot-ms', '100'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
    );
    children.push(child);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await waitFor('the listening line', async () => stdout.includes('"event":"listening"'));
    const listening = JSON.parse(stdout.split('\n')[0] ?? '') as Record<string, unknown>;
    expect(listening).toMatchObject({ event: 'listening', id: 'i-cli', port, version: '3.1.0', role: 'manager' });

    const controlRun = spawn(process.execPath, [require.resolve('tsx/cli'), CONTROL_ENTRY, 'status'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '', ZERODOWN_NODE_URL: `http://${MANAGER_IP}:${port}` },
    });
    children.push(controlRun);
    let controlOut = '';
    controlRun.stdout?.on('data', (chunk: Buffer) => {
      controlOut += chunk.toString('utf8');
    });
    const controlCode = await withDeadline(
      new Promise<number | null>((resolve) => controlRun.once('exit', (code) => resolve(code))),
      WAIT_LIMIT_MS,
      'the control script',
    );
    expect(controlCode).toBe(0);
    expect(controlOut).toContain('i-cli manager version 3.1.0');

    child.kill('SIGTERM');
    expect(await withDeadline(exited, WAIT_LIMIT_MS, 'the server to exit')).toBe(0);
    expect(stdout).toContain('"event":"closed"');
    expect(await connectionRefused(`http://${MANAGER_IP}:${port}`)).toBe(true);
  });

  it('refuses bad command-line arguments', async () => {
    const child = spawn(
      process.execPath,
      [require.resolve('tsx/cli'), SERVER_ENTRY, '--id', 'i-x', '--ip', 'localhost', '--port', '80'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } },
    );
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const code = await withDeadline(
      new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode))),
      WAIT_LIMIT_MS,
      'the server to refuse its arguments',
    );
    expect(code).toBe(2);
    expect(stderr).toContain('--ip must be an IP address (got "localhost")');
    expect(stderr).toContain('usage: server.ts');
  });
});
