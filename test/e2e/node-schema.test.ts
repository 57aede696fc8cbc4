import * as fs from 'node:fs';
import * as path from 'node:path';
import { freeNodePort } from '../../local/moto-server';
import { runControl } from '../../sandbox/node/control';
import { httpRequest, type NodeStatus } from '../../sandbox/node/protocol';
import { SCHEMA_REFRESH_MS } from '../../sandbox/node/schema-check';
import { type NodeServerOptions, startNodeServer } from '../../sandbox/node/server';
import { useNodeServers } from '../harness/node-servers';

/**
 * The reference node server on a shared database whose schema moves past its version: with the old version declared
 * unable to run on the new schema, it refuses its product and health checks with 503 and says why; a version equal
 * to or newer than the schema serves.
 */

const OLD_IP = '127.0.9.11';
const NEW_IP = '127.0.9.12';
const BOOT_MS = 100;
/** Only stops a condition that never comes true; it comes true within the schema check's refresh time. */
const WAIT_LIMIT_MS = 30_000;
const REFUSAL = 'version 1.0.0 cannot run on database schema 2.0.0';

const { servers, tempDir } = useNodeServers('zerodown-schema-');

async function startNode(
  options: Pick<NodeServerOptions, 'id' | 'ip' | 'version' | 'dbFile'> & Partial<NodeServerOptions>,
) {
  const events: Record<string, unknown>[] = [];
  const server = await startNodeServer({
    port: await freeNodePort(),
    dataDir: tempDir(),
    role: 'worker',
    bootMs: BOOT_MS,
    shutdownGraceMs: 500,
    log: (event) => events.push(event),
    ...options,
  });
  servers.push(server);
  return { url: server.url, events };
}

async function get(url: string) {
  const result = await httpRequest(url, { timeoutMs: WAIT_LIMIT_MS });
  return { status: result.status, text: result.body.toString('utf8') };
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function databaseAt(schemaVersion: string): string {
  const dbFile = path.join(tempDir(), 'database.json');
  fs.writeFileSync(dbFile, JSON.stringify({ schemaVersion, migrations: [] }));
  return dbFile;
}

describe('reference node server on a migrated schema', () => {
  it('refuses every product request once another node migrates past its version, and says why', async () => {
    const dbFile = databaseAt('1.0.0');
    const old = await startNode({
      id: 'i-old',
      ip: OLD_IP,
      version: '1.0.0',
      dbFile,
      oldVersionRunsOnNewSchema: false,
    });
    const upgraded = await startNode({
      id: 'i-new',
      ip: NEW_IP,
      version: '2.0.0',
      dbFile,
      oldVersionRunsOnNewSchema: false,
    });
    // The new version runs on the old schema until it is migrated.
    expect((await get(`${upgraded.url}/health`)).status).toBe(200);
    expect((await get(`${old.url}/`)).status).toBe(200);

    expect(await runControl(['migrate', '--version', '2.0.0'], { ZERODOWN_NODE_URL: upgraded.url })).toMatchObject({
      exitCode: 0,
    });
    await waitFor('the old node to see the new schema', async () => (await get(`${old.url}/`)).status === 503);

    expect(await get(`${old.url}/load/1`)).toEqual({ status: 503, text: `i-old: ${REFUSAL}\n` });
    expect((await get(`${old.url}/version`)).status).toBe(503);
    expect(await get(`${old.url}/services/orders-api`)).toEqual({
      status: 503,
      text: JSON.stringify({ error: REFUSAL }),
    });
    const health = await get(`${old.url}/health`);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'incompatible-schema', version: '1.0.0', error: REFUSAL });
    // The node that migrated serves on the schema of its own version.
    expect(await get(`${upgraded.url}/`)).toEqual({ status: 200, text: 'i-new 2.0.0 ok' });
    expect((await get(`${upgraded.url}/health`)).status).toBe(200);

    const status = JSON.parse((await get(`${old.url}/_control/status`)).text) as NodeStatus;
    expect(status.db).toEqual({ schemaVersion: '2.0.0', oldVersionRunsOnNewSchema: false, refusing: REFUSAL });
    const described = await runControl(['status'], { ZERODOWN_NODE_URL: old.url });
    expect(described.stdout).toContain(`database schema: 2.0.0; REFUSING to serve: ${REFUSAL}`);
    expect((await runControl(['status'], { ZERODOWN_NODE_URL: upgraded.url })).stdout).toContain(
      'database schema: 2.0.0 (version 2.0.0 runs on it)',
    );
    expect(old.events.filter((event) => String(event.event).startsWith('schema-'))).toEqual([
      {
        event: 'schema-incompatible',
        id: 'i-old',
        version: '1.0.0',
        schemaVersion: '2.0.0',
        message: `refusing to serve: ${REFUSAL}`,
      },
    ]);

    // Upgraded onto the schema's version, it serves again.
    const upgrade = await runControl(['upgrade', '--version', '2.0.0'], { ZERODOWN_NODE_URL: old.url });
    expect(upgrade).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('now at version 2.0.0') });
    expect(await get(`${old.url}/`)).toEqual({ status: 200, text: 'i-old 2.0.0 ok' });
    expect(old.events.at(-1)).toMatchObject({ event: 'schema-compatible', version: '2.0.0' });
  });

  it('sees its own migration at once, and fails a restart onto a version older than the schema without waiting', async () => {
    const dbFile = databaseAt('1.0.0');
    const node = await startNode({
      id: 'i-one',
      ip: OLD_IP,
      version: '1.0.0',
      dbFile,
      oldVersionRunsOnNewSchema: false,
    });
    await runControl(['migrate', '--version', '2.0.0'], { ZERODOWN_NODE_URL: node.url });
    // No wait for the refresh: this node ran the migration.
    expect((await get(`${node.url}/`)).status).toBe(503);

    await runControl(['upgrade', '--version', '2.0.0'], { ZERODOWN_NODE_URL: node.url });
    const started = Date.now();
    const downgrade = await runControl(['upgrade', '--version', '1.9.0'], { ZERODOWN_NODE_URL: node.url });
    expect(downgrade.exitCode).toBe(1);
    expect(downgrade.stderr).toContain(
      'i-one came back on version 1.9.0 but refuses to serve: version 1.9.0 cannot run on database schema 2.0.0',
    );
    // Well inside the restart's 30 s margin: a node that refuses does not become healthy by waiting.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(
      (await runControl(['smoke-test', '--service', 'orders-api'], { ZERODOWN_NODE_URL: node.url })).stderr,
    ).toContain('status incompatible-schema: version 1.9.0 cannot run on database schema 2.0.0');
  });

  it('serves an old version on a newer schema when the old version runs on it, or nothing is declared', async () => {
    const dbFile = databaseAt('2.0.0');
    const declared = await startNode({
      id: 'i-a',
      ip: OLD_IP,
      version: '1.0.0',
      dbFile,
      oldVersionRunsOnNewSchema: true,
    });
    const undeclared = await startNode({ id: 'i-b', ip: NEW_IP, version: '1.0.0', dbFile });
    await new Promise((resolve) => setTimeout(resolve, SCHEMA_REFRESH_MS * 2));

    for (const node of [declared, undeclared]) {
      expect((await get(`${node.url}/`)).status).toBe(200);
      expect((await get(`${node.url}/health`)).status).toBe(200);
      const status = JSON.parse((await get(`${node.url}/_control/status`)).text) as NodeStatus;
      expect(status.db).toMatchObject({ schemaVersion: '2.0.0', oldVersionRunsOnNewSchema: true, refusing: null });
    }
  });
});
