import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { kitDocumentContent } from '../../kits/node/documents';
import { heartbeatInstallCommands, nodeConfigOf, nodeFile } from '../../kits/node/node-kit';
import { renderScript } from '../../sandbox/agent';
import { listenOnLoopback, runScript } from '../harness/shell';
import { testClusterModel } from '../harness/test-app';

/**
 * The node kit's shell, run for real with /bin/sh: the heartbeat script against a stand-in instance metadata
 * service and health endpoint, and the documents' command lines as SSM renders them. `aws` and `zerodown-node` are
 * recorders on the PATH that write down how they were called.
 */

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-kit-'));
  tempDirs.push(dir);
  return dir;
}

/** An executable on the PATH that appends its arguments, one per line, to `<dir>/<name>.calls`. */
function recorder(dir: string, name: string, exitCode = 0): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    `#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done >> "${dir}/${name}.calls"\nexit ${exitCode}\n`,
  );
  fs.chmodSync(file, 0o755);
  return path.join(dir, `${name}.calls`);
}

interface NodeStandIn {
  tags: Record<string, string>;
  healthStatus: number;
  instanceId: string;
  localIpv4: string;
  /** How many times each metadata path (below latest/meta-data/) was read. */
  readonly reads: Record<string, number>;
  url: string;
  close(): Promise<void>;
}

/**
 * One loopback server for the instance metadata service (IMDSv2) and the node's health endpoint, on 127.0.0.1 (the
 * node's own address for the peer watch).
 */
async function nodeStandIn(): Promise<NodeStandIn> {
  const state = {
    tags: {} as Record<string, string>,
    healthStatus: 200,
    instanceId: 'i-self',
    localIpv4: '127.0.0.1',
    reads: {} as Record<string, number>,
  };
  const server = http.createServer((request, response) => {
    const url = request.url ?? '';
    const metadata = url.startsWith('/latest/meta-data/') ? url.slice('/latest/meta-data/'.length) : undefined;
    if (metadata !== undefined) state.reads[metadata] = (state.reads[metadata] ?? 0) + 1;
    if (url === '/latest/api/token' && request.method === 'PUT') {
      response.end('token-1');
    } else if (metadata !== undefined && request.headers['x-aws-ec2-metadata-token'] !== 'token-1') {
      response.writeHead(401).end();
    } else if (metadata?.startsWith('tags/instance/')) {
      const value = state.tags[decodeURIComponent(metadata.slice('tags/instance/'.length))];
      if (value === undefined) response.writeHead(404).end();
      else response.end(value);
    } else if (metadata === 'instance-id') {
      response.end(state.instanceId);
    } else if (metadata === 'local-ipv4') {
      response.end(state.localIpv4);
    } else if (url === '/health') {
      response.writeHead(state.healthStatus).end('health');
    } else {
      response.writeHead(404).end();
    }
  });
  return Object.assign(state, await listenOnLoopback(server));
}

function runHeartbeat(dir: string, node: NodeStandIn) {
  const config = path.join(dir, 'node.env');
  const model = parseClusterModel(testClusterModel());
  const checks = model.healthChecks.http.map((check) => ({ ...check, port: Number(new URL(node.url).port) }));
  fs.writeFileSync(config, nodeConfigOf({ ...model, healthChecks: { ...model.healthChecks, http: checks } }));
  return runScript(nodeFile('zerodown-heartbeat'), [], {
    PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}`,
    ZERODOWN_NODE_CONFIG: config,
    ZERODOWN_IMDS_URL: node.url,
    ZERODOWN_CHECK_TIMEOUT: '10',
  });
}

describe('zerodown-heartbeat', () => {
  let node: NodeStandIn;
  beforeEach(async () => {
    node = await nodeStandIn();
  });
  afterEach(() => node.close());

  it("publishes one beat for the node's slot, read from its tags, stamped with when it started", async () => {
    const dir = tempDir();
    const calls = recorder(dir, 'aws');
    node.tags = { 'zerodown:cluster': 'test-cluster', 'zerodown:role': 'manager', 'zerodown:slot': 'a' };
    const before = Date.now();
    const result = await runHeartbeat(dir, node);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const args = fs.readFileSync(calls, 'utf8').trim().split('\n');
    expect(args.slice(0, -2)).toEqual([
      'cloudwatch',
      'put-metric-data',
      '--region',
      'us-east-1',
      '--namespace',
      'ZeroDown',
      '--metric-name',
      'NodeHeartbeat',
      '--dimensions',
      'Cluster=test-cluster,Slot=a',
      '--value',
      '1',
      '--unit',
      'Count',
      '--storage-resolution',
      '1',
    ]);
    expect(args.at(-2)).toBe('--timestamp');
    // Stamped when the script started, after the test read the clock (both truncated to the millisecond).
    expect(Date.parse(args.at(-1) ?? '')).toBeGreaterThanOrEqual(before);
  });

  it('sends nothing, and says why, while the node fails its own health check', async () => {
    const dir = tempDir();
    const calls = recorder(dir, 'aws');
    node.tags = { 'zerodown:role': 'worker', 'zerodown:slot': 'b' };
    node.healthStatus = 503;
    const result = await runHeartbeat(dir, node);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/\/health answered 503, not 200: no heartbeat/);
    expect(fs.existsSync(calls)).toBe(false);
  });

  it.each([
    ['a surge node', { 'zerodown:role': 'surge' }],
    ['a node a failover labelled lost', { 'zerodown:role': 'lost', 'zerodown:slot': 'a' }],
  ])('sends nothing for %s, which holds no slot', async (_case, tags) => {
    const dir = tempDir();
    const calls = recorder(dir, 'aws');
    node.tags = tags;
    const result = await runHeartbeat(dir, node);
    expect(result.status).toBe(0);
    expect(fs.existsSync(calls)).toBe(false);
  });

  it('fails loudly for a permanent node without a slot tag, or when the tags cannot be read', async () => {
    const dir = tempDir();
    const calls = recorder(dir, 'aws');
    node.tags = { 'zerodown:role': 'manager' };
    expect(await runHeartbeat(dir, node)).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/the manager node has no zerodown:slot tag/),
    });
    node.tags = {};
    expect(await runHeartbeat(dir, node)).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/no zerodown:role tag; tag the node, and turn instance metadata tags on/),
    });
    expect(fs.existsSync(calls)).toBe(false);
  });

  it('fails when the publish fails, so systemd records the missed beat', async () => {
    const dir = tempDir();
    recorder(dir, 'aws', 255);
    node.tags = { 'zerodown:role': 'manager', 'zerodown:slot': 'a' };
    expect((await runHeartbeat(dir, node)).status).toBe(255);
  });
});

describe('the node kit documents, as SSM runs them', () => {
  function runDocument(kind: Parameters<typeof kitDocumentContent>[0], parameters: Record<string, string[]>) {
    const dir = tempDir();
    const calls = recorder(dir, 'zerodown-node');
    const script = renderScript(kitDocumentContent(kind), parameters);
    const result = spawnSync('/bin/sh', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: `${dir}${path.delimiter}/usr/bin${path.delimiter}/bin` },
    });
    return { ...result, calls: fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [] };
  }

  it("hands the operator's value to zerodown-node as one argument", () => {
    expect(runDocument('patch', { PatchId: ['WSO2-CARBON-UPDATE-4.2.0-0042'] })).toMatchObject({
      status: 0,
      calls: ['patch', '--patch-id', 'WSO2-CARBON-UPDATE-4.2.0-0042'],
    });
    expect(runDocument('deploy', { Artifact: ['s3://artifacts/orders-api-1.2.0.car'] }).calls).toEqual([
      'deploy',
      '--artifact',
      's3://artifacts/orders-api-1.2.0.car',
    ]);
    expect(runDocument('syncPause', {}).calls).toEqual(['sync-pause']);
  });

  it('refuses a value outside the pattern before anything runs, as SSM does', () => {
    for (const value of ["P42'; reboot; '", 'P42;reboot', 'reboot now', '$(reboot)']) {
      expect(() => renderScript(kitDocumentContent('patch'), { PatchId: [value] })).toThrow(
        'Parameter PatchId does not match its allowed pattern',
      );
    }
  });

  it('fails with a message that names the fix when zerodown-node is not installed', () => {
    const script = renderScript(kitDocumentContent('upgrade'), { TargetVersion: ['4.3.0'] });
    const result = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(result.status).toBe(127);
    expect(result.stderr).toMatch(/zerodown-node is not installed on this node: install the node kit/);
  });
});

describe('the heartbeat install commands for user data', () => {
  it('write the script, the units and the config, then start the timer, and parse as shell', () => {
    const model = parseClusterModel(testClusterModel());
    const script = heartbeatInstallCommands(model).join('\n');
    expect(spawnSync('/bin/sh', ['-n', '-c', script]).status).toBe(0);
    for (const target of [
      '/usr/local/bin/zerodown-heartbeat',
      '/etc/systemd/system/zerodown-heartbeat.service',
      '/etc/systemd/system/zerodown-heartbeat.timer',
      '/etc/zerodown/node.env',
    ]) {
      expect(script).toContain(`cat > ${target} <<'ZERODOWN_END_OF_FILE'`);
    }
    expect(script).toMatch(/systemctl enable --now zerodown-heartbeat.timer$/);
    expect(fs.readFileSync(nodeFile('zerodown-heartbeat.timer'), 'utf8')).toMatch(/OnUnitActiveSec=10s/);
  });
});
