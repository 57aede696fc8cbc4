import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { nodeAlarmName } from '../../functions/domain/recheck';
import { kitDocumentContent } from '../../kits/node/documents';
import {
  heartbeatInstallCommands,
  nodeConfigOf,
  nodeFile,
  PEER_WATCH_TIMING,
  type PeerWatchTiming,
} from '../../kits/node/node-kit';
import { renderScript } from '../../sandbox/agent';
import { listenOnAddress, listenOnLoopback, type RunningScript, runScript, startScript } from '../harness/shell';
import { testClusterModel } from '../harness/test-app';

/**
 * The node kit's shell, run for real with /bin/sh: the heartbeat script against a stand-in instance metadata
 * service and health endpoint, the peer watch against that and stand-in peers on other loopback addresses, the
 * documents' command lines as SSM renders them, and the user data that installs it all. `aws`, `systemctl` and
 * `zerodown-node` are stand-ins on the PATH that write down how they were called.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  /** How long the health endpoint takes to answer. */
  healthDelayMs: number;
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
    healthDelayMs: 0,
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
      setTimeout(() => response.writeHead(state.healthStatus).end('health'), state.healthDelayMs);
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

/**
 * How a peer stand-in treats a probe: answers 200, answers 500, refuses the connection, accepts and never answers,
 * or flaps: answers every fourth probe 200 and the others 500.
 */
type PeerBehaviour = 'healthy' | 'failing' | 'refusing' | 'hung' | 'flapping';

interface PeerRequest {
  readonly at: number;
  readonly from: string | undefined;
  readonly behaviour: PeerBehaviour;
  /** The status the peer answered with; none for a hung peer. */
  readonly status: number | undefined;
}

interface PeerStandIn {
  readonly address: string;
  /** Each probe the peer received: when (the epoch in milliseconds), from where, and how the peer behaved then. */
  readonly requests: PeerRequest[];
  behave(behaviour: PeerBehaviour): Promise<void>;
  close(): Promise<void>;
}

/**
 * A peer node's health endpoint on its own loopback address. The checks name one port for every node, so all peers
 * listen on the port of the node's own stand-in, each on another address.
 */
async function peerStandIn(address: string, port: number, behaviour: PeerBehaviour): Promise<PeerStandIn> {
  let current = behaviour;
  const requests: PeerRequest[] = [];
  const server = http.createServer((request, response) => {
    const answers = current === 'healthy' || (current === 'flapping' && (requests.length + 1) % 4 === 0);
    // A hung peer keeps the request open: the probe gets nothing until its own timeout.
    const status = current === 'hung' ? undefined : answers ? 200 : 500;
    requests.push({ at: Date.now(), from: request.socket.remoteAddress, behaviour: current, status });
    if (status !== undefined) response.writeHead(status).end('health');
  });
  let listening: { close(): Promise<void> } | undefined;
  const behave = async (next: PeerBehaviour) => {
    current = next;
    if (next === 'refusing' && listening) {
      await listening.close();
      listening = undefined;
    } else if (next !== 'refusing' && !listening) {
      listening = await listenOnAddress(server, address, port);
    }
  };
  await behave(behaviour);
  return { address, requests, behave, close: () => behave('refusing') };
}

/** One call of the `aws` stand-in: when it started (the epoch in milliseconds) and its arguments. */
interface AwsCall {
  readonly at: number;
  readonly args: string[];
}

/**
 * `aws` as the peer watch uses it: `ec2 describe-instances` prints `<dir>/peers` (the text output: instance id,
 * address and slot, tab-separated); `stepfunctions start-execution` succeeds, or, while
 * `<dir>/execution-already-exists` exists, fails as the CLI does for a name Step Functions already has, or, while
 * `<dir>/start-execution-error` exists, fails with the error code it holds. Each call is one line of
 * `<dir>/<command>.calls`: the time it started, then its arguments, tab-separated; and one line of
 * `<dir>/aws-max-attempts.calls`, the AWS_MAX_ATTEMPTS it ran with.
 */
function awsStandIn(dir: string): void {
  const file = path.join(dir, 'aws');
  fs.writeFileSync(
    file,
    `#!/bin/sh
line="$(date +%s%3N)$(printf '\\t%s' "$@")"
printf '%s\\n' "\${AWS_MAX_ATTEMPTS-unset}" >> "${dir}/aws-max-attempts.calls"
case "$1 $2" in
  'ec2 describe-instances')
    printf '%s\\n' "$line" >> "${dir}/describe-instances.calls"
    if [ -f "${dir}/peers" ]; then cat "${dir}/peers"; fi
    ;;
  'stepfunctions start-execution')
    printf '%s\\n' "$line" >> "${dir}/start-execution.calls"
    if [ -e "${dir}/execution-already-exists" ]; then
      echo 'An error occurred (ExecutionAlreadyExists) when calling the StartExecution operation: Execution Already Exists' >&2
      exit 254
    fi
    if [ -e "${dir}/start-execution-error" ]; then
      echo "An error occurred ($(cat "${dir}/start-execution-error")) when calling the StartExecution operation: no" >&2
      exit 254
    fi
    echo '{ "executionArn": "arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-failover:x" }'
    ;;
  *)
    echo "aws stand-in: unexpected call: $*" >&2
    exit 252
    ;;
esac
`,
  );
  fs.chmodSync(file, 0o755);
}

function awsCalls(dir: string, command: 'describe-instances' | 'start-execution'): AwsCall[] {
  const file = path.join(dir, `${command}.calls`);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, ...args] = line.split('\t');
      return { at: Number(at), args };
    });
}

/** The value after `option` in a call's arguments. */
function optionOf(call: AwsCall | undefined, option: string): string {
  const index = call?.args.indexOf(option) ?? -1;
  return index < 0 ? '' : (call?.args[index + 1] ?? '');
}

const FAILOVER_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:zerodown-test-cluster-failover';
/** Small enough that a test sees several probe rounds a second; the back-off stays out of the way unless asked. */
const TEST_TIMING: PeerWatchTiming = {
  intervalSeconds: 0.1,
  retrySeconds: 0.05,
  failures: 3,
  refreshSeconds: 1,
  rereportSeconds: 60,
  settleSeconds: 1,
};
/** The first report of a loss of i-peer (slot b) from this node (i-self): the loss's start, to the second. */
const FIRST_REPORT_NAME = /^peer-b-i-peer-(\d+)-self$/;
/** The CLI's own time limits, which every call of the watch's gives. */
const CLI_LIMITS = ['--cli-connect-timeout', '3', '--cli-read-timeout', '10'];
/** Every outcome the tests wait for comes well within this; it only stops a test whose outcome never comes. */
const WAIT_LIMIT_MS = 15_000;

describe('zerodown-peer-watch', () => {
  let node: NodeStandIn;
  let dir: string;
  const peers: PeerStandIn[] = [];
  let watch: RunningScript | undefined;

  beforeEach(async () => {
    node = await nodeStandIn();
    node.tags = { 'zerodown:cluster': 'test-cluster', 'zerodown:role': 'manager', 'zerodown:slot': 'a' };
    dir = tempDir();
    awsStandIn(dir);
  });
  afterEach(async () => {
    await watch?.stop();
    watch = undefined;
    for (const peer of peers.splice(0)) await peer.close();
    await node.close();
  });

  /** The port every node's checks use: the node's own stand-in's. */
  const checkPort = () => Number(new URL(node.url).port);

  async function peer(address: string, behaviour: PeerBehaviour): Promise<PeerStandIn> {
    const standIn = await peerStandIn(address, checkPort(), behaviour);
    peers.push(standIn);
    return standIn;
  }

  /**
   * Starts the watch on this node (i-self, slot a, 127.0.0.1). The peer list also holds this node itself and a node
   * without a slot tag, which the watch leaves out.
   */
  function startWatch(listed: readonly [string, PeerStandIn, string][], timing: Partial<PeerWatchTiming> = {}) {
    const rows = [
      ['i-self', '127.0.0.1', 'a'],
      ...listed.map(([instanceId, standIn, slot]) => [instanceId, standIn.address, slot]),
      ['i-no-slot', '127.0.0.9', 'None'],
    ];
    fs.writeFileSync(path.join(dir, 'peers'), rows.map((row) => `${row.join('\t')}\n`).join(''));
    const model = parseClusterModel(testClusterModel());
    // A hung peer's probe gives up after half a second.
    const checks = model.healthChecks.http.map((check) => ({ ...check, port: checkPort(), timeoutMs: 500 }));
    const config = path.join(dir, 'node.env');
    fs.writeFileSync(
      config,
      nodeConfigOf({ ...model, healthChecks: { ...model.healthChecks, http: checks } }, '127.0.0.1', {
        failoverStateMachineArn: FAILOVER_ARN,
        peerWatch: { ...TEST_TIMING, ...timing },
      }),
    );
    watch = startScript(nodeFile('zerodown-peer-watch'), [], {
      PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}`,
      ZERODOWN_NODE_CONFIG: config,
      ZERODOWN_IMDS_URL: node.url,
      ZERODOWN_CHECK_TIMEOUT: '5',
      // Its scratch directory, which a killed watch leaves behind, goes with the test's.
      TMPDIR: dir,
    });
    return watch;
  }

  const starts = () => awsCalls(dir, 'start-execution');
  const stderr = () => watch?.stderr() ?? '';

  /** Polls until `found` gives a value, for at most WAIT_LIMIT_MS. */
  async function waitFor<T>(what: string, found: () => T | undefined | false): Promise<T> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const value = found();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`no ${what} in ${WAIT_LIMIT_MS} ms; the watch said:\n${stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Waits until `standIn` has been probed `rounds` more times: time enough for anything the watch would do. */
  async function waitForProbes(standIn: PeerStandIn, rounds: number): Promise<void> {
    const target = standIn.requests.length + rounds;
    await waitFor(`${rounds} probes of ${standIn.address}`, () => standIn.requests.length >= target);
  }

  const reportsOf = (count: number) => () => starts().length >= count && starts();
  const answered = (request: PeerRequest) => request.status === 200;

  it('reports a dead peer once, with the input the failover takes, and leaves a healthy peer alone', async () => {
    const dead = await peer('127.0.0.2', 'healthy');
    const healthy = await peer('127.0.0.3', 'healthy');
    // The node's address is another loopback address than the one the route to its peers would pick.
    node.localIpv4 = '127.0.0.5';
    const started = Date.now();
    startWatch([
      ['i-peer', dead, 'b'],
      ['i-peer-c', healthy, 'c'],
    ]);
    await waitFor('watch of both peers', () => /watching: i-peer \(slot b\), i-peer-c \(slot c\)\n/.test(stderr()));
    await dead.behave('refusing');
    const [call] = await waitFor('report', reportsOf(1));

    expect(call?.args).toEqual([
      'stepfunctions',
      'start-execution',
      ...CLI_LIMITS,
      '--region',
      'us-east-1',
      '--state-machine-arn',
      FAILOVER_ARN,
      '--name',
      expect.stringMatching(FIRST_REPORT_NAME),
      '--input',
      expect.any(String),
    ]);
    // Named for the second the loss started in, which lies between the start of the test and the report.
    const lossStart = Number(FIRST_REPORT_NAME.exec(optionOf(call, '--name'))?.[1]);
    expect(lossStart).toBeGreaterThanOrEqual(Math.floor(started / 1000));
    expect(lossStart).toBeLessThanOrEqual(Math.floor((call?.at ?? 0) / 1000));
    // Every CLI call is bounded in time: a limit on each connection and read, and two attempts at most.
    expect(new Set(fs.readFileSync(path.join(dir, 'aws-max-attempts.calls'), 'utf8').trim().split('\n'))).toEqual(
      new Set(['2']),
    );
    const input = JSON.parse(optionOf(call, '--input')) as Record<string, string>;
    expect(input).toEqual({
      cluster: 'test-cluster',
      slot: 'b',
      alarmName: 'zerodown-test-cluster-node-b-lost',
      detectedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      trigger: 'peer',
      lostInstanceId: 'i-peer',
    });
    expect(input.alarmName).toBe(nodeAlarmName('test-cluster', 'b'));
    expect(new Date(input.detectedAt ?? '').toISOString()).toBe(input.detectedAt);
    expect(Date.parse(input.detectedAt ?? '')).toBeGreaterThanOrEqual(started);
    expect(stderr()).toMatch(/peer i-peer \(slot b\) lost: started failover peer-b-i-peer-\d+-self\n/);
    // A slot holder without a slot tag cannot be reported: said once.
    expect(stderr().match(/not watched, for want of a zerodown:slot tag: i-no-slot\n/g)).toHaveLength(1);

    // Many rounds later, still the one report, and none for the healthy peer.
    await waitForProbes(healthy, 15);
    expect(starts()).toHaveLength(1);
    expect(stderr()).not.toMatch(/i-peer-c .*lost/);

    // The peer list came from one exact query of the cluster's running slot holders.
    expect(awsCalls(dir, 'describe-instances')[0]?.args).toEqual([
      'ec2',
      'describe-instances',
      ...CLI_LIMITS,
      '--region',
      'us-east-1',
      '--output',
      'text',
      '--filters',
      'Name=tag:zerodown:cluster,Values=test-cluster',
      'Name=instance-state-name,Values=running',
      'Name=tag:zerodown:role,Values=manager,worker',
      '--query',
      'Reservations[].Instances[].[InstanceId,PrivateIpAddress,Tags[?Key==`zerodown:slot`]|[0].Value]',
    ]);
    // The probes came from the node's own address, as the metadata service gives it.
    expect(new Set([...dead.requests, ...healthy.requests].map((request) => request.from))).toEqual(
      new Set(['127.0.0.5']),
    );
    expect(watch?.running()).toBe(true);
  });

  it('never reports a peer that answers', async () => {
    const healthy = await peer('127.0.0.2', 'healthy');
    startWatch([['i-peer', healthy, 'b']]);
    await waitForProbes(healthy, 20);
    expect(starts()).toEqual([]);
    expect(stderr()).not.toMatch(/lost|does not answer/);
    expect(healthy.requests.every((request) => request.behaviour === 'healthy')).toBe(true);
  });

  it('reports a peer that answers with the wrong status, after the quick retries', async () => {
    const failing = await peer('127.0.0.2', 'failing');
    startWatch([['i-peer', failing, 'b']]);
    const [call] = await waitFor('report', reportsOf(1));
    expect(optionOf(call, '--name')).toMatch(FIRST_REPORT_NAME);
    // Three failed probes in a row, retried without waiting for the next round, made the peer lost.
    expect(failing.requests.filter((request) => request.at <= (call?.at ?? 0))).toHaveLength(TEST_TIMING.failures);
  });

  it('reports a hung peer on one probe that timed out, with no quick retries', async () => {
    const hung = await peer('127.0.0.2', 'hung');
    startWatch([['i-peer', hung, 'b']]);
    const [call] = await waitFor('report', reportsOf(1));
    expect(optionOf(call, '--name')).toMatch(FIRST_REPORT_NAME);
    expect(JSON.parse(optionOf(call, '--input'))).toMatchObject({ slot: 'b', lostInstanceId: 'i-peer' });
    // A probe that was silent for its whole timeout is conclusive: the report followed the first one.
    expect(hung.requests.filter((request) => request.at <= (call?.at ?? 0))).toHaveLength(1);
  });

  it('counts ExecutionAlreadyExists as reported, and keeps watching', async () => {
    fs.writeFileSync(path.join(dir, 'execution-already-exists'), '');
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']], { rereportSeconds: 1 });
    const [first] = await waitFor('report', reportsOf(1));
    const name = optionOf(first, '--name');
    expect(name).toMatch(FIRST_REPORT_NAME);
    await waitFor('already started', () =>
      stderr().includes(`peer i-peer (slot b) lost: failover ${name} was already started`),
    );
    expect(stderr()).not.toMatch(/could not be started/);
    // Still watching: the peer, still lost, is reported again, as the second report of the same loss (a failure
    // would have been tried again under the first report's name).
    const [, second] = await waitFor('re-report', reportsOf(2));
    expect(optionOf(second, '--name')).toBe(`${name}-r2`);
    expect(watch?.running()).toBe(true);
  });

  it('reports a peer that stays lost again, under a name of its own each time', async () => {
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']], { rereportSeconds: 1 });
    const calls = await waitFor('three reports', reportsOf(3));
    const [first, second, third] = calls.map((call) => optionOf(call, '--name'));
    expect(first).toMatch(FIRST_REPORT_NAME);
    // Step Functions keeps a name for 90 days: under the first report's name a re-report could start nothing.
    expect([second, third]).toEqual([`${first}-r2`, `${first}-r3`]);
    for (const call of calls) {
      expect(JSON.parse(optionOf(call, '--input'))).toMatchObject({
        slot: 'b',
        trigger: 'peer',
        lostInstanceId: 'i-peer',
      });
    }
  });

  it('does not report a dead peer while the node fails its own health check', async () => {
    node.healthStatus = 503;
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    await waitFor('refusal to judge', () =>
      stderr().includes('peer i-peer (slot b) does not answer, but neither does this node: not reported'),
    );
    expect(starts()).toEqual([]);
    // The node's own check is all that held the report back.
    node.healthStatus = 200;
    const [call] = await waitFor('report', reportsOf(1));
    expect(optionOf(call, '--name')).toMatch(FIRST_REPORT_NAME);
  });

  it.each(['surge', 'dr', 'lost'])('watches nothing on a %s node', async (role) => {
    node.tags = { 'zerodown:cluster': 'test-cluster', 'zerodown:role': role };
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    // The role is read at every refresh: two reads are a whole round of the watch.
    await waitFor('two reads of the role', () => (node.reads['tags/instance/zerodown:role'] ?? 0) >= 2);
    expect(awsCalls(dir, 'describe-instances')).toEqual([]);
    expect(starts()).toEqual([]);
    expect(stderr()).not.toMatch(/watching/);
    expect(watch?.running()).toBe(true);
  });

  it('stops watching when a failover labels the node lost', async () => {
    const standIn = await peer('127.0.0.2', 'healthy');
    startWatch([['i-peer', standIn, 'b']]);
    await waitFor('watch of the peer', () => stderr().includes('watching: i-peer (slot b)\n'));
    node.tags = { ...node.tags, 'zerodown:role': 'lost' };
    await waitFor('the watch stopped', () => stderr().includes('watching: nothing\n'));
    await standIn.behave('refusing');
    const reads = node.reads['tags/instance/zerodown:role'] ?? 0;
    await waitFor('two more reads of the role', () => (node.reads['tags/instance/zerodown:role'] ?? 0) >= reads + 2);
    expect(starts()).toEqual([]);
  });

  it('reports a peer that comes back and is lost again as a new loss, once its back-off is over', async () => {
    const flaky = await peer('127.0.0.2', 'healthy');
    startWatch([['i-peer', flaky, 'b']], { rereportSeconds: 3 });
    await waitFor('watch of the peer', () => stderr().includes('watching: i-peer (slot b)\n'));
    await flaky.behave('refusing');
    const [first] = await waitFor('first report', reportsOf(1));
    expect(optionOf(first, '--name')).toMatch(FIRST_REPORT_NAME);

    await flaky.behave('healthy');
    // The loss is over once the peer has answered for the settle period, without a failure.
    await waitFor('the peer back', () => stderr().includes('peer i-peer (slot b) answers again'));
    await flaky.behave('refusing');
    const [, second] = await waitFor('second report', reportsOf(2));
    // A loss of its own, under a name of its own, no sooner than the back-off after the first report (the watch
    // counts whole seconds).
    const lossStarts = [first, second].map((call) => Number(FIRST_REPORT_NAME.exec(optionOf(call, '--name'))?.[1]));
    expect(lossStarts[1]).toBeGreaterThan(lossStarts[0] ?? Number.POSITIVE_INFINITY);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    expect(starts()).toHaveLength(2);
  });

  it('reports a peer that fails 3 probes of 4 once, as one loss, not at every failure', async () => {
    const flapping = await peer('127.0.0.2', 'healthy');
    startWatch([['i-peer', flapping, 'b']]);
    await waitFor('watch of the peer', () => stderr().includes('watching: i-peer (slot b)\n'));
    await flapping.behave('flapping');
    await waitFor('report', reportsOf(1));
    // Many answers later, each between failures, still one report: the peer never answered for the settle period.
    await waitFor('12 answers of the flapping peer', () => flapping.requests.filter(answered).length >= 12);
    expect(starts()).toHaveLength(1);
    expect(stderr()).not.toMatch(/answers again/);
  });

  it('backs off the reports of a peer that hangs again and again, a hang counting at once only the first time', async () => {
    const flapping = await peer('127.0.0.2', 'healthy');
    startWatch([['i-peer', flapping, 'b']], { rereportSeconds: 6 });
    await waitFor('watch of the peer', () => stderr().includes('watching: i-peer (slot b)\n'));
    // Three times: hung for long enough to time out three probes in a row (0.5 s each), then answering for longer
    // than the settle period (1 s, counted in whole seconds), which ends each loss.
    for (let round = 0; round < 3; round++) {
      await flapping.behave('hung');
      await sleep(1_800);
      await flapping.behave('healthy');
      await sleep(3_000);
    }
    const calls = starts();
    // Three losses, at most two reports: the back-off of 6 s, then 12 s, holds whichever loss a report would be for.
    expect(stderr().match(/answers again/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(2);
    for (let index = 1; index < calls.length; index++) {
      expect((calls[index]?.at ?? 0) - (calls[index - 1]?.at ?? 0)).toBeGreaterThanOrEqual(5_000);
    }
    // The first loss, of a peer that had answered steadily, was reported on the one probe that timed out.
    const [first] = calls;
    const hungBefore = flapping.requests.filter(
      (request) => request.behaviour === 'hung' && request.at <= (first?.at ?? 0),
    );
    expect(hungBefore).toHaveLength(1);
  });

  it('backs off a report that keeps failing, and says so when it starts and when the error changes', async () => {
    const errorFile = path.join(dir, 'start-execution-error');
    fs.writeFileSync(errorFile, 'AccessDeniedException');
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    await waitFor('first try', reportsOf(1));
    fs.writeFileSync(errorFile, 'StateMachineDoesNotExist');
    const tries = await waitFor('three tries', reportsOf(3));
    // Nothing more for a while: the next try waits 8 s.
    await sleep(1_500);
    expect(starts()).toHaveLength(3);
    const [first, second, third] = tries.map((call) => call.at);
    // 2 s, then 4 s apart (the watch counts whole seconds).
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(3_000);
    // Each try under the same name: none was started.
    expect(new Set(tries.map((call) => optionOf(call, '--name'))).size).toBe(1);
    // Said for the first try, and for the second, whose error was another; the third repeated the second's.
    const said = stderr()
      .split('\n')
      .filter((line) => line.includes('could not be started'));
    expect(said).toEqual([
      expect.stringMatching(/\(try 1, the next in 2 s\): An error occurred \(AccessDeniedException\)/),
      expect.stringMatching(/\(try 2, the next in 4 s\): An error occurred \(StateMachineDoesNotExist\)/),
    ]);
    expect(watch?.running()).toBe(true);
  });

  it('gives its own checks no more time than its peer gets: a node as slow as its peer does not report it', async () => {
    // The peer's check times out after 0.5 s; ZERODOWN_CHECK_TIMEOUT (5 s) is for the metadata service only.
    node.healthDelayMs = 1_000;
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    await waitFor('refusal to judge', () =>
      stderr().includes('peer i-peer (slot b) does not answer, but neither does this node: not reported'),
    );
    expect(starts()).toEqual([]);
    node.healthDelayMs = 0;
    await waitFor('report', reportsOf(1));
  });

  it('does not lose the first report of a loss after a restart', async () => {
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    const [first] = await waitFor('report', reportsOf(1));
    await watch?.stop();
    // As systemd would restart it (5 s later; here, in the next second), with the peer still lost.
    await sleep(1_000);
    startWatch([['i-peer', dead, 'b']]);
    const [, second] = await waitFor('report after the restart', reportsOf(2));
    expect(optionOf(second, '--name')).toMatch(FIRST_REPORT_NAME);
    expect(optionOf(second, '--name')).not.toBe(optionOf(first, '--name'));
    expect(stderr()).toMatch(/lost: started failover/);
  });

  it('says once that it watches nothing while its role tag cannot be read, and starts when it can', async () => {
    node.tags = {};
    const dead = await peer('127.0.0.2', 'refusing');
    startWatch([['i-peer', dead, 'b']]);
    await waitFor('four reads of the role', () => (node.reads['tags/instance/zerodown:role'] ?? 0) >= 4);
    const said = stderr().split('\n').filter(Boolean);
    expect(said).toEqual([
      "zerodown-peer-watch: this node's zerodown:role tag cannot be read: the node has none, or instance metadata " +
        'tags are off (InstanceMetadataTags=enabled in the launch template); watching nothing until it can be read',
    ]);
    expect(awsCalls(dir, 'describe-instances')).toEqual([]);
    node.tags = { 'zerodown:cluster': 'test-cluster', 'zerodown:role': 'worker', 'zerodown:slot': 'a' };
    await waitFor('watch of the peer', () => stderr().includes('watching: i-peer (slot b)\n'));
    expect(stderr()).toContain("this node's zerodown:role tag reads worker again");
    await waitFor('report', reportsOf(1));
  });
});

describe('zerodown-peer-watch, configured so that it cannot work', () => {
  /** A directory on the PATH with only the named programs, linked from where the test's own PATH has them. */
  function pathWith(programs: readonly string[]): string {
    const bin = tempDir();
    for (const program of programs) {
      const found = spawnSync('/bin/sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
      fs.symlinkSync(found, path.join(bin, program));
    }
    return bin;
  }

  function runWatch(bin: string) {
    const dir = tempDir();
    const config = path.join(dir, 'node.env');
    fs.writeFileSync(
      config,
      nodeConfigOf(parseClusterModel(testClusterModel()), '127.0.0.1', { failoverStateMachineArn: FAILOVER_ARN }),
    );
    return runScript(nodeFile('zerodown-peer-watch'), [], {
      PATH: bin,
      ZERODOWN_NODE_CONFIG: config,
      // Nothing answers here: a watch that went on would fail on the metadata service instead.
      ZERODOWN_IMDS_URL: 'http://127.0.0.1:9',
    });
  }

  it('fails at once with one line that names what is missing, with a status the unit does not restart', async () => {
    const result = await runWatch(pathWith(['curl', 'awk', 'grep']));
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(
      /^zerodown-peer-watch: not found on the PATH \([^)]*\): aws; install it \(aws is the AWS CLI\), then: systemctl restart zerodown-peer-watch\n$/,
    );
    const bare = await runWatch(tempDir());
    expect(bare.status).toBe(78);
    expect(bare.stderr).toMatch(/^zerodown-peer-watch: not found on the PATH \([^)]*\): curl aws awk grep; /);
    expect(bare.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readFileSync(nodeFile('zerodown-peer-watch.service'), 'utf8')).toMatch(/^RestartPreventExitStatus=78$/m);
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
  const model = parseClusterModel(testClusterModel());
  const failoverStateMachineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:zerodown-x-failover';
  const peerWatchFiles = ['/usr/local/bin/zerodown-peer-watch', '/etc/systemd/system/zerodown-peer-watch.service'];

  /**
   * Runs the commands with /bin/sh as user data would, with every file they write moved under `root`, and
   * `systemctl` a recorder.
   */
  function install(lines: readonly string[]) {
    const root = tempDir();
    const bin = tempDir();
    const systemctl = recorder(bin, 'systemctl');
    for (const dir of ['usr/local/bin', 'etc/systemd/system']) fs.mkdirSync(path.join(root, dir), { recursive: true });
    // Only the command lines: a file's content is one element of its own, whatever paths it names.
    const script = lines
      .map((line) => line.replace(/^(cat > |chmod \d{4} |install -d -m \d{4} )\//, `$1${root}/`))
      .join('\n');
    const result = spawnSync('/bin/sh', ['-c', script], {
      encoding: 'utf8',
      env: { PATH: `${bin}${path.delimiter}/usr/bin${path.delimiter}/bin` },
    });
    const config = path.join(root, 'etc/zerodown/node.env');
    return {
      status: result.status,
      stderr: result.stderr,
      installed: (target: string) => path.join(root, target),
      systemctl: fs.existsSync(systemctl) ? fs.readFileSync(systemctl, 'utf8').trim().split('\n') : [],
      /** The config as the scripts read it: sourced by /bin/sh. */
      setting: (name: string) =>
        spawnSync('/bin/sh', ['-c', `. "$1"; printf '%s' "\${${name}-unset}"`, 'sh', config], { encoding: 'utf8' })
          .stdout,
    };
  }

  const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

  it('write the script, the units and the config, then start the timer, and parse as shell', () => {
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

  it('install no peer watch without the failover state machine', () => {
    const lines = heartbeatInstallCommands(model);
    expect(lines.join('\n')).not.toMatch(/zerodown-peer-watch|ZERODOWN_FAILOVER_ARN|ZERODOWN_PEER_/);
    const run = install(lines);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(run.installed('/usr/local/bin/zerodown-heartbeat'), 'utf8')).toBe(
      fs.readFileSync(nodeFile('zerodown-heartbeat'), 'utf8'),
    );
    for (const target of peerWatchFiles) expect(fs.existsSync(run.installed(target))).toBe(false);
    expect(run.setting('ZERODOWN_FAILOVER_ARN')).toBe('unset');
    expect(run.setting('ZERODOWN_PEER_CHECKS')).toBe('unset');
    expect(run.systemctl).toEqual(['daemon-reload', 'enable', '--now', 'zerodown-heartbeat.timer']);
  });

  it('install and start the peer watch, with its config, given the failover state machine', () => {
    const lines = heartbeatInstallCommands(model, { failoverStateMachineArn });
    expect(spawnSync('/bin/sh', ['-n', '-c', lines.join('\n')]).status).toBe(0);
    expect(lines.at(-1)).toBe('systemctl enable --now zerodown-peer-watch.service');
    const run = install(lines);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(fs.readFileSync(run.installed('/usr/local/bin/zerodown-peer-watch'), 'utf8')).toBe(
      fs.readFileSync(nodeFile('zerodown-peer-watch'), 'utf8'),
    );
    expect(modeOf(run.installed('/usr/local/bin/zerodown-peer-watch'))).toBe('755');
    expect(fs.readFileSync(run.installed('/etc/systemd/system/zerodown-peer-watch.service'), 'utf8')).toBe(
      fs.readFileSync(nodeFile('zerodown-peer-watch.service'), 'utf8'),
    );
    expect(modeOf(run.installed('/etc/systemd/system/zerodown-peer-watch.service'))).toBe('644');
    // The heartbeat is installed as before.
    expect(fs.existsSync(run.installed('/usr/local/bin/zerodown-heartbeat'))).toBe(true);

    expect(run.setting('ZERODOWN_FAILOVER_ARN')).toBe(failoverStateMachineArn);
    // The model's checks that do not look for a version, against the peer, with each check's timeout in seconds.
    const [health] = model.healthChecks.http.filter((check) => !check.expectVersion);
    expect(model.healthChecks.http.filter((check) => !check.expectVersion)).toHaveLength(1);
    expect(run.setting('ZERODOWN_PEER_CHECKS')).toBe(
      `http://@PEER@:9443/health|200|${(health?.timeoutMs ?? 0) / 1000}`,
    );
    expect(run.setting('ZERODOWN_HEALTH_CHECKS')).toBe('http://127.0.0.1:9443/health|200');
    expect(run.setting('ZERODOWN_PEER_INTERVAL')).toBe(String(PEER_WATCH_TIMING.intervalSeconds));
    expect(run.setting('ZERODOWN_PEER_REREPORT')).toBe(String(PEER_WATCH_TIMING.rereportSeconds));
    expect(run.systemctl).toEqual([
      'daemon-reload',
      'enable',
      '--now',
      'zerodown-heartbeat.timer',
      'enable',
      '--now',
      'zerodown-peer-watch.service',
    ]);
  });
});
