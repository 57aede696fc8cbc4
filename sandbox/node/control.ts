import { parseArgs } from 'node:util';
import {
  errorMessage,
  type HealthBody,
  type HttpResult,
  httpRequest,
  isArtifactUri,
  isRecord,
  MANAGER_PATTERN,
  MEMBERS_PATTERN,
  type NodeStatus,
  PATCH_ID_PATTERN,
  parseJson,
  type RestartAccepted,
  SERVICE_PATTERN,
  type ServiceRecord,
  VERSION_PATTERN,
} from './protocol';

/**
 * The control script the SSM documents run on a node: one action per call, validated before the node is touched,
 * a short human-readable result on stdout, and an exit code the command status follows.
 */

export interface ControlResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const REQUEST_TIMEOUT_MS = 10_000;
const HEALTH_POLL_TIMEOUT_MS = 2_000;
const HEALTH_POLL_INTERVAL_MS = 100;
/** How long a restarted node may take beyond its own boot time before the restart counts as failed. */
const RESTART_MARGIN_MS = 30_000;

type Flag = 'patch-id' | 'version' | 'service' | 'artifact' | 'members' | 'manager';

interface ActionSpec {
  readonly flags: readonly Flag[];
  readonly required: readonly Flag[];
  readonly summary: string;
}

const ACTIONS: Record<string, ActionSpec> = {
  status: { flags: [], required: [], summary: 'show the node version, patches, services, sync and schema' },
  patch: {
    flags: ['patch-id', 'version'],
    required: ['patch-id'],
    summary: 'apply a patch and restart; the version becomes <release>-<patch id> unless --version is given',
  },
  upgrade: { flags: ['version'], required: ['version'], summary: 'restart onto another version' },
  deploy: {
    flags: ['service', 'artifact'],
    required: ['artifact'],
    summary: 'deploy (manager only); the service defaults to the artifact file name without its extension',
  },
  undeploy: { flags: ['service'], required: ['service'], summary: 'remove a service (manager only)' },
  migrate: { flags: ['version'], required: ['version'], summary: 'migrate the shared database schema' },
  'sync-pause': { flags: [], required: [], summary: 'pause file sync' },
  'sync-resume': { flags: [], required: [], summary: 'resume file sync' },
  'smoke-test': { flags: ['service'], required: ['service'], summary: 'check the node is healthy and serves it' },
  reconfigure: {
    flags: ['members', 'manager'],
    required: ['members', 'manager'],
    summary: "follow the cluster's new addresses: file sync pulls from the manager at --manager",
  },
};

const USAGE = [
  'usage: control.ts <action> [--node URL] [flags]   (the node defaults to $ZERODOWN_NODE_URL)',
  ...Object.entries(ACTIONS).map(
    ([name, spec]) =>
      `  ${`${name} ${spec.flags.map((flag) => (spec.required.includes(flag) ? `--${flag} X` : `[--${flag} X]`)).join(' ')}`.padEnd(44)}${spec.summary}`,
  ),
].join('\n');

class UsageError extends Error {}

class ControlFailure extends Error {}

interface Request {
  action: string;
  nodeUrl: string;
  patchId?: string;
  version?: string;
  service?: string;
  artifact?: string;
  members?: string;
  manager?: string;
}

export async function runControl(
  argv: string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<ControlResult> {
  let request: Request;
  try {
    request = parseRequest(argv, env);
  } catch (error) {
    if (error instanceof HelpRequested) return { exitCode: EXIT_OK, stdout: `${USAGE}\n`, stderr: '' };
    return { exitCode: EXIT_USAGE, stdout: '', stderr: `error: ${errorMessage(error)}\n${USAGE}\n` };
  }
  try {
    const lines = await perform(request, new NodeClient(request.nodeUrl));
    return { exitCode: EXIT_OK, stdout: `${lines.join('\n')}\n`, stderr: '' };
  } catch (error) {
    return { exitCode: EXIT_FAILED, stdout: '', stderr: `${request.action} failed: ${errorMessage(error)}\n` };
  }
}

class HelpRequested extends Error {}

function parseRequest(argv: string[], env: Readonly<Record<string, string | undefined>>): Request {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    // parseArgs names the offending option; the usage that follows shows the accepted ones.
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') throw new HelpRequested();
  const [action, ...extra] = positionals;
  if (!action) throw new UsageError('an action is required');
  const spec = ACTIONS[action];
  if (!spec) throw new UsageError(`unknown action "${action}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const given = (['patch-id', 'version', 'service', 'artifact', 'members', 'manager'] as const).filter(
    (flag) => values[flag] !== undefined,
  );
  for (const flag of given) {
    if (!spec.flags.includes(flag)) throw new UsageError(`${action} does not take --${flag}`);
  }
  for (const flag of spec.required) {
    if (!values[flag]) throw new UsageError(`${action} requires --${flag}`);
  }

  const request: Request = { action, nodeUrl: nodeUrl(values.node ?? env.ZERODOWN_NODE_URL) };
  if (values['patch-id'] !== undefined) {
    request.patchId = checked('--patch-id', values['patch-id'], PATCH_ID_PATTERN, 'like WSO2-CARBON-PATCH-4.4.0-1234');
  }
  if (values.version !== undefined) {
    request.version = checked('--version', values.version, VERSION_PATTERN, 'like 4.2.0 or 4.2.0-p1');
  }
  if (values.service !== undefined) {
    request.service = checked('--service', values.service, SERVICE_PATTERN, 'like orders-api');
  }
  if (values.members !== undefined) {
    request.members = checked('--members', values.members, MEMBERS_PATTERN, 'like 10.0.1.4,10.0.2.7');
  }
  if (values.manager !== undefined) {
    request.manager = checked('--manager', values.manager, MANAGER_PATTERN, 'like 10.0.1.4');
  }
  if (values.artifact !== undefined) {
    if (!isArtifactUri(values.artifact)) {
      throw new UsageError(`--artifact must be an s3:// or https:// URI (got ${quote(values.artifact)})`);
    }
    request.artifact = values.artifact;
    if (action === 'deploy' && request.service === undefined) request.service = serviceOfArtifact(values.artifact);
  }
  return request;
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      node: { type: 'string' },
      'patch-id': { type: 'string' },
      version: { type: 'string' },
      service: { type: 'string' },
      artifact: { type: 'string' },
      members: { type: 'string' },
      manager: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** `s3://bucket/orders-api/1.4.0/orders-api.car` deploys `orders-api`, for documents that pass only the artifact. */
export function serviceOfArtifact(artifact: string): string {
  const fileName = new URL(artifact).pathname.split('/').pop() ?? '';
  const extension = fileName.lastIndexOf('.');
  const service = extension > 0 ? fileName.slice(0, extension) : fileName;
  if (!SERVICE_PATTERN.test(service)) {
    throw new UsageError(`cannot name the service after the artifact file ${quote(fileName)}; pass --service`);
  }
  return service;
}

function nodeUrl(raw: string | undefined): string {
  if (!raw) throw new UsageError('no node given: set ZERODOWN_NODE_URL or pass --node URL');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`the node URL ${quote(raw)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`the node URL must be http:// or https:// (got ${quote(raw)})`);
  }
  return url.origin;
}

function checked(flag: string, value: string, pattern: RegExp, example: string): string {
  if (!pattern.test(value))
    throw new UsageError(`${flag} ${quote(value)} is not valid: expected ${example}, ${pattern}`);
  return value;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}

async function perform(request: Request, node: NodeClient): Promise<string[]> {
  switch (request.action) {
    case 'status':
      return describeStatus(await node.status());
    case 'patch':
    case 'upgrade':
      return restart(request, node);
    case 'deploy': {
      const record = await node.post<ServiceRecord>('/_control/deploy', {
        service: request.service,
        artifact: request.artifact,
      });
      return [`deployed ${record.service} (${record.artifact}) on ${node.url}`];
    }
    case 'undeploy': {
      const result = await node.post<{ removed: boolean }>('/_control/undeploy', { service: request.service });
      return [result.removed ? `removed ${request.service}` : `${request.service} was not deployed; nothing to do`];
    }
    case 'migrate': {
      const result = await node.post<{ changed: boolean; from: string | null; schemaVersion: string }>(
        '/_control/migrate',
        { version: request.version },
      );
      return [
        result.changed
          ? `database schema migrated from ${result.from ?? 'none'} to ${result.schemaVersion}`
          : `database schema already at ${result.schemaVersion}; nothing to do`,
      ];
    }
    case 'sync-pause':
    case 'sync-resume': {
      const action = request.action === 'sync-pause' ? 'pause' : 'resume';
      const result = await node.post<{ syncPaused: boolean }>('/_control/sync', { action });
      return [`file sync ${result.syncPaused ? 'paused' : 'running'} on ${node.url}`];
    }
    case 'smoke-test':
      return smokeTest(request.service ?? '', node);
    case 'reconfigure': {
      // Every node of a cluster serves on the same port: the manager's is this node's own.
      const own = new URL(node.url);
      const result = await node.post<{ managerUrl: string; changed: boolean; syncing: boolean }>(
        '/_control/reconfigure',
        {
          managerUrl: `${own.protocol}//${request.manager}:${own.port || (own.protocol === 'https:' ? 443 : 80)}`,
          members: request.members,
        },
      );
      const what = result.syncing
        ? `file sync pulls from ${result.managerUrl}`
        : `manager recorded as ${result.managerUrl}`;
      return [result.changed ? `reconfigured: ${what}` : `nothing to do: ${what}`];
    }
    default:
      throw new UsageError(`unknown action "${request.action}"`);
  }
}

function describeStatus(status: NodeStatus): string[] {
  const services = status.services.map((record) => `${record.service} (${record.artifact})`);
  return [
    `${status.id} ${status.role} version ${status.version}${status.restarting ? ' (restarting)' : ''}`,
    `patches: ${status.patches.length > 0 ? status.patches.join(', ') : 'none'}`,
    `services: ${services.length > 0 ? services.join(', ') : 'none'}`,
    `file sync: ${status.syncPaused ? 'paused' : 'running'}`,
    `database schema: ${status.db.schemaVersion ?? 'none'}${schemaVerdict(status)}`,
  ];
}

/** Whether the node serves on the schema, when it checks at all (the old version does not run on a newer schema). */
function schemaVerdict({ db, version }: NodeStatus): string {
  if (db.refusing) return `; REFUSING to serve: ${db.refusing}`;
  if (db.oldVersionRunsOnNewSchema === false) return ` (version ${version} runs on it)`;
  return '';
}

/**
 * The node answers a restart with 202 before it goes down (its listener closes, and with it any connection that
 * waited). Success is /health answering with a new bootId and the expected version, within boot time plus a margin.
 */
async function restart(given: Request, node: NodeClient): Promise<string[]> {
  const before = await node.status();
  // A patch already applied is not applied again, whatever version the node reports now.
  const derive = given.patchId !== undefined && given.version === undefined && !before.patches.includes(given.patchId);
  const request = derive ? { ...given, version: patchedVersion(before.version, given.patchId ?? '') } : given;
  const what = request.patchId ? `patch ${request.patchId}` : `upgrade to ${request.version}`;
  const versionMatches = request.version === undefined || before.version === request.version;
  if (versionMatches && (request.patchId ? before.patches.includes(request.patchId) : true)) {
    return [`${what}: ${before.id} already at version ${before.version}; nothing to do`];
  }
  const started = Date.now();
  const accepted = await node.post<RestartAccepted>(
    '/_control/restart',
    { version: request.version, patchId: request.patchId },
    202,
  );
  const deadline = started + accepted.bootMs + RESTART_MARGIN_MS;
  let lastSeen = 'no answer yet';
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new ControlFailure(
        `${before.id} did not come back within ${accepted.bootMs + RESTART_MARGIN_MS} ms (last seen: ${lastSeen})`,
      );
    }
    const health = await node.tryHealth(Math.min(HEALTH_POLL_TIMEOUT_MS, remaining));
    if (typeof health === 'string') {
      lastSeen = health;
    } else if (health.bootId === accepted.previousBootId) {
      lastSeen = 'still up before the restart';
    } else if (health.status === 'incompatible-schema') {
      // It came back and will not serve until the schema is one its version runs on: waiting changes nothing.
      throw new ControlFailure(
        `${health.id} came back on version ${health.version} but refuses to serve: ${health.error ?? health.status}`,
      );
    } else if (health.status !== 'ok') {
      lastSeen = `status ${health.status}`;
    } else if (health.version !== accepted.version) {
      throw new ControlFailure(`${health.id} came back on version ${health.version}, expected ${accepted.version}`);
    } else {
      return [`${what}: ${health.id} restarted in ${Date.now() - started} ms, now at version ${health.version}`];
    }
    await delay(Math.min(HEALTH_POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
}

/**
 * A patch raises the node's update level: 4.2.0 with patch P42 reports 4.2.0-P42, and a later P43 replaces the
 * level (4.2.0-P43), so the version a workflow expects after a patch is predictable.
 */
export function patchedVersion(version: string, patchId: string): string {
  const release = version.split('-')[0] ?? version;
  return `${release}-${patchId.replace(/[^0-9A-Za-z._+-]/g, '.')}`.slice(0, 64);
}

async function smokeTest(service: string, node: NodeClient): Promise<string[]> {
  const health = await node.tryHealth(REQUEST_TIMEOUT_MS);
  if (typeof health === 'string') throw new ControlFailure(`node ${node.url} is unhealthy: ${health}`);
  if (health.status !== 'ok') {
    const why = health.error ? `: ${health.error}` : '';
    throw new ControlFailure(`node ${health.id} is unhealthy: status ${health.status}${why}`);
  }
  const deployed = await node.get(`/services/${encodeURIComponent(service)}`);
  if (deployed.status === 404) {
    throw new ControlFailure(
      `service ${service} is not deployed on ${health.id} (file sync may not have delivered it)`,
    );
  }
  const record = parseJson(deployed.body);
  if (deployed.status !== 200 || !isRecord(record) || record.service !== service) {
    throw new ControlFailure(`${health.id} answered ${deployed.status} for service ${service}: ${preview(deployed)}`);
  }
  const traffic = await node.get('/');
  if (traffic.status !== 200) {
    throw new ControlFailure(`${health.id} answered ${traffic.status} to traffic: ${preview(traffic)}`);
  }
  return [`smoke test passed: ${service} (${String(record.artifact)}) on ${health.id}, version ${health.version}`];
}

class NodeClient {
  constructor(readonly url: string) {}

  async get(path: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<HttpResult> {
    return this.send('GET', path, undefined, timeoutMs);
  }

  async status(): Promise<NodeStatus> {
    return this.expect<NodeStatus>(await this.get('/_control/status'), 200, 'status');
  }

  async post<T>(path: string, body: unknown, expectedStatus = 200): Promise<T> {
    return this.expect<T>(await this.send('POST', path, body, REQUEST_TIMEOUT_MS), expectedStatus, path);
  }

  /** The node's health, or why there is none: a restarting node refusing connections is expected, not an error. */
  async tryHealth(timeoutMs: number): Promise<HealthBody | string> {
    let result: HttpResult;
    try {
      result = await httpRequest(`${this.url}/health`, { timeoutMs });
    } catch (error) {
      return errorMessage(error);
    }
    const body = parseJson(result.body);
    if (!isRecord(body) || typeof body.bootId !== 'string')
      return `/health answered ${result.status}: ${preview(result)}`;
    return body as unknown as HealthBody;
  }

  private async send(method: string, path: string, body: unknown, timeoutMs: number): Promise<HttpResult> {
    try {
      return await httpRequest(`${this.url}${path}`, { method, body, timeoutMs });
    } catch (error) {
      throw new ControlFailure(`cannot reach the node at ${this.url}: ${errorMessage(error)}`);
    }
  }

  private expect<T>(result: HttpResult, status: number, what: string): T {
    const body = parseJson(result.body);
    if (result.status !== status) {
      const reason = isRecord(body) && typeof body.error === 'string' ? body.error : preview(result);
      throw new ControlFailure(`node answered ${result.status} to ${what}: ${reason}`);
    }
    if (!isRecord(body)) throw new ControlFailure(`node answered ${what} with something that is not JSON`);
    return body as T;
  }
}

function preview(result: HttpResult): string {
  const text = result.body.toString('utf8').trim();
  return text.length > 200 ? `${text.slice(0, 200)}...` : text || '(empty)';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (typeof require !== 'undefined' && require.main === module) {
  runControl(process.argv.slice(2), process.env).then(
    (result) => {
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      process.exitCode = result.exitCode;
    },
    (error: unknown) => {
      process.stderr.write(`control failed: ${errorMessage(error)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
