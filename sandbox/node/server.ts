import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  compareVersions,
  DEPLOYMENT_FILE_PATTERN,
  errorMessage,
  type HealthBody,
  httpRequest,
  isArtifactUri,
  isRecord,
  type ManifestEntry,
  NODE_ROLES,
  type NodeRole,
  type NodeStatus,
  PATCH_ID_PATTERN,
  parseJson,
  type RestartAccepted,
  SERVICE_PATTERN,
  type ServiceRecord,
  SHA256_PATTERN,
  VERSION_PATTERN,
} from './protocol';

/**
 * A stand-in for one node of a WSO2-like server cluster: it serves traffic, reports its version, restarts onto a new
 * version, holds services in a deployment directory that workers copy from the manager (file sync), and migrates the
 * cluster's shared database. The sandbox runs one per "instance"; the same file runs on a real instance.
 */

export interface NodeServerOptions {
  id: string;
  ip: string;
  /** 0 picks a free port on the first boot; restarts keep that port. */
  port: number;
  dataDir: string;
  /** The cluster's shared database, one JSON file for every node. */
  dbFile: string;
  /** The version of a node that has never been restarted onto another; state.json wins once it exists. */
  version: string;
  role: NodeRole;
  /** Where workers and surge nodes pull the deployment directory from. */
  managerUrl?: string;
  bootMs?: number;
  syncIntervalMs?: number;
  /** How long close() lets in-flight requests finish before cutting their connections. */
  shutdownGraceMs?: number;
  /** Receives one structured event per line-worthy happening; JSON lines on stdout by default. */
  log?: (event: Record<string, unknown>) => void;
}

export interface NodeServer {
  readonly url: string;
  close(): Promise<void>;
}

interface PersistedState {
  version: string;
  patches: string[];
  syncPaused: boolean;
}

interface Migration {
  from: string | null;
  to: string;
  appliedAt: string;
  by: string;
}

interface Database {
  schemaVersion: string | null;
  migrations: Migration[];
}

/** One listening period of the node, between a boot and the next restart or shutdown. */
interface Listener {
  readonly server: http.Server;
  readonly bootId: string;
  readonly version: string;
  readonly trafficBody: string;
  draining: boolean;
  readonly closed: Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_TRAFFIC_DELAY_MS = 10_000;
const DRAIN_IDLE_MS = 250;
const SYNC_REQUEST_TIMEOUT_MS = 5_000;
const LISTEN_ATTEMPTS = 20;
const LISTEN_RETRY_MS = 250;
const DB_LOCK_TIMEOUT_MS = 5_000;
const DB_LOCK_STALE_MS = 10_000;

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const node = new NodeRuntime(options);
  await node.boot();
  return {
    get url() {
      return node.url;
    },
    close: () => node.close(),
  };
}

class NodeRuntime {
  private readonly deploymentDir: string;
  private readonly statePath: string;
  private readonly bootMs: number;
  private readonly syncIntervalMs: number;
  private readonly shutdownGraceMs: number;
  private readonly log: (event: Record<string, unknown>) => void;
  private port: number;
  private state: PersistedState;
  private stateWrites: Promise<void> = Promise.resolve();
  private current: Listener | undefined;
  private readonly listeners = new Set<Listener>();
  private restarting = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private readonly sleeps = new Set<() => void>();
  private syncTimer: NodeJS.Timeout | undefined;
  private syncAbort: AbortController | undefined;
  private lastSyncError: string | undefined;
  /** Sync rounds finished since the process started, paused ones included: proof that sync had its chance. */
  private syncRounds = 0;

  constructor(private readonly options: NodeServerOptions) {
    this.deploymentDir = path.join(options.dataDir, 'deployment');
    this.statePath = path.join(options.dataDir, 'state.json');
    this.bootMs = options.bootMs ?? 1000;
    this.syncIntervalMs = options.syncIntervalMs ?? 500;
    this.shutdownGraceMs = options.shutdownGraceMs ?? 3000;
    this.log = options.log ?? ((event) => process.stdout.write(`${JSON.stringify(event)}\n`));
    this.port = options.port;
    this.state = { version: options.version, patches: [], syncPaused: false };
  }

  get url(): string {
    return `http://${this.options.ip}:${this.port}`;
  }

  private get syncsFromManager(): boolean {
    return this.options.role !== 'manager' && Boolean(this.options.managerUrl);
  }

  async boot(): Promise<void> {
    await fs.mkdir(this.deploymentDir, { recursive: true });
    this.state = (await this.loadState()) ?? this.state;
    await this.saveState();
    // File sync runs while the server boots, as rsync on a real host would.
    if (this.syncsFromManager) this.scheduleSync(0);
    await this.sleep(this.bootMs);
    if (this.closing) throw new Error(`node ${this.options.id} was closed while booting`);
    await this.listen();
  }

  async close(): Promise<void> {
    this.closePromise ??= this.shutDown();
    return this.closePromise;
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.syncTimer);
    this.syncAbort?.abort();
    for (const wake of this.sleeps) wake();
    const listeners = [...this.listeners];
    for (const listener of listeners) this.drain(listener);
    const allClosed = Promise.all(listeners.map((listener) => listener.closed));
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, this.shutdownGraceMs);
    });
    await Promise.race([allClosed, graceOver]);
    clearTimeout(graceTimer);
    for (const listener of listeners) listener.server.closeAllConnections();
    await allClosed;
    await this.stateWrites;
    this.log({ event: 'closed', id: this.options.id });
  }

  /** Resolves after `ms`, or at once when the node closes, so no timer outlives close(). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeps.add(wake);
    });
  }

  private async listen(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.listenOnce();
        return;
      } catch (error) {
        // The port can still be held for a moment by something else on a busy host; a restart waits it out.
        const retryable = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < LISTEN_ATTEMPTS;
        if (!retryable || this.closing) throw error;
        await this.sleep(LISTEN_RETRY_MS);
        if (this.closing) throw error;
      }
    }
  }

  private listenOnce(): Promise<void> {
    const server = http.createServer();
    const version = this.state.version;
    const listener: Listener = {
      server,
      bootId: randomUUID(),
      version,
      trafficBody: `${this.options.id} ${version} ok`,
      draining: false,
      closed: new Promise((resolve) => server.once('close', () => resolve())),
    };
    // Longer than a load balancer keeps an idle connection (60 s on an ALB), so the balancer, not the node, closes
    // it: a node closing first races the balancer's next request on that connection and turns it into a 502.
    server.keepAliveTimeout = 65_000;
    server.on('request', (request, response) => this.handle(listener, request, response));
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        server.close();
        reject(error);
      };
      server.once('error', onError);
      server.listen({ host: this.options.ip, port: this.port }, () => {
        server.off('error', onError);
        if (this.closing) {
          server.close();
          reject(new Error(`node ${this.options.id} was closed while starting to listen`));
          return;
        }
        server.on('error', (error) => this.log({ event: 'error', id: this.options.id, message: errorMessage(error) }));
        const address = server.address();
        if (address && typeof address === 'object') this.port = address.port;
        this.listeners.add(listener);
        void listener.closed.then(() => this.listeners.delete(listener));
        this.current = listener;
        this.log({
          event: 'listening',
          id: this.options.id,
          ip: this.options.ip,
          port: this.port,
          url: this.url,
          version,
          role: this.options.role,
          bootId: listener.bootId,
        });
        resolve();
      });
    });
  }

  /**
   * Stops accepting connections at once, so the port really goes down. Connections already open are not cut on the
   * spot: a keep-alive client may be sending its next request at that very moment and would see a reset. For a short
   * window such a request is still answered, with `connection: close`; then idle connections close, and busy ones
   * right after their response (see `handle`).
   */
  private drain(listener: Listener): void {
    if (listener.draining) return;
    listener.draining = true;
    // net.Server's close stops the listener without http.Server's immediate closing of idle connections.
    net.Server.prototype.close.call(listener.server);
    setTimeout(() => listener.server.close(), DRAIN_IDLE_MS).unref();
  }

  private async restartFrom(listener: Listener): Promise<void> {
    try {
      this.log({ event: 'restarting', id: this.options.id, version: this.state.version, bootMs: this.bootMs });
      this.drain(listener);
      if (this.current === listener) this.current = undefined;
      await this.sleep(this.bootMs);
      if (this.closing) return;
      await this.listen();
    } catch (error) {
      if (!this.closing) this.log({ event: 'error', id: this.options.id, message: errorMessage(error) });
    } finally {
      this.restarting = false;
    }
  }

  private handle(listener: Listener, request: http.IncomingMessage, response: http.ServerResponse): void {
    const socket = request.socket;
    response.once('finish', () => {
      if (listener.draining && !socket.destroyed) socket.end();
    });
    this.route(listener, request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) this.log({ event: 'error', id: this.options.id, message: errorMessage(error) });
      if (!response.headersSent && !response.destroyed) {
        respondJson(listener, response, status, { error: errorMessage(error) });
      } else if (!response.writableEnded) {
        response.destroy();
      }
    });
  }

  private async route(listener: Listener, request: http.IncomingMessage, response: http.ServerResponse) {
    const rawUrl = request.url ?? '/';
    const queryStart = rawUrl.indexOf('?');
    const pathname = queryStart < 0 ? rawUrl : rawUrl.slice(0, queryStart);
    const method = request.method ?? 'GET';

    if (pathname.startsWith('/_control/')) {
      if (!isSameHost(request.socket)) throw new HttpError(403, 'control requests are only accepted from this host');
      const action = pathname.slice('/_control/'.length);
      if (method === 'GET' && action === 'status') return respondJson(listener, response, 200, await this.status());
      if (method !== 'POST')
        throw new HttpError(405, `${method} ${pathname} is not supported; control actions are POST`);
      const body = await readJsonBody(request);
      switch (action) {
        case 'restart':
          return this.restart(listener, body, response);
        case 'deploy':
          return respondJson(listener, response, 200, await this.deploy(body));
        case 'undeploy':
          return respondJson(listener, response, 200, await this.undeploy(body));
        case 'migrate':
          return respondJson(listener, response, 200, await this.migrate(body));
        case 'sync':
          return respondJson(listener, response, 200, await this.setSync(body));
        default:
          throw new HttpError(404, `unknown control action "${action}"`);
      }
    }

    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, `${method} is not supported on ${pathname}`);
    }
    if (pathname === '/health') {
      const health: HealthBody = {
        status: listener.draining ? 'draining' : 'ok',
        id: this.options.id,
        version: listener.version,
        role: this.options.role,
        bootId: listener.bootId,
      };
      return respondJson(listener, response, listener.draining ? 503 : 200, health);
    }
    if (pathname === '/version') return respond(listener, response, 200, 'text/plain; charset=utf-8', listener.version);
    if (pathname.startsWith('/services/')) {
      const record = await this.readService(decodeSegment(pathname.slice('/services/'.length)));
      if (!record) throw new HttpError(404, 'service is not deployed on this node');
      return respondJson(listener, response, 200, record);
    }
    if (pathname === '/_sync/manifest') return respondJson(listener, response, 200, await this.manifest());
    if (pathname.startsWith('/_sync/file/')) {
      const contents = await this.syncFile(decodeSegment(pathname.slice('/_sync/file/'.length)));
      return respond(listener, response, 200, 'application/octet-stream', contents);
    }

    const delayMs = queryStart < 0 ? 0 : trafficDelay(rawUrl.slice(queryStart + 1));
    if (delayMs > 0) await unrefDelay(delayMs);
    respond(listener, response, 200, 'text/plain; charset=utf-8', listener.trafficBody);
  }

  /**
   * Answers 202 first and restarts once that answer is out, because closing the listener would otherwise cut the
   * caller's own connection. The caller learns the restart is over when /health answers with another bootId.
   */
  private async restart(listener: Listener, body: Record<string, unknown>, response: http.ServerResponse) {
    const version = optionalString(body, 'version', VERSION_PATTERN, 'a version like 4.2.0 or 4.2.0-p1');
    const patchId = optionalString(body, 'patchId', PATCH_ID_PATTERN, 'a patch id like WSO2-CARBON-PATCH-4.4.0-1234');
    if (this.restarting || listener !== this.current) throw new HttpError(409, 'a restart is already in progress');
    this.restarting = true;
    try {
      const patches =
        patchId && !this.state.patches.includes(patchId) ? [...this.state.patches, patchId] : this.state.patches;
      // Recorded before going down, so a node that dies mid-restart comes back on the version it was given.
      this.state = { ...this.state, version: version ?? this.state.version, patches };
      await this.saveState();
    } catch (error) {
      this.restarting = false;
      throw error;
    }
    const accepted: RestartAccepted = {
      accepted: true,
      previousBootId: listener.bootId,
      version: this.state.version,
      patchId: patchId ?? null,
      bootMs: this.bootMs,
    };
    // 'close' rather than 'finish', and at once if the caller is already gone: a caller that hangs up early must not
    // leave the node half restarted.
    const begin = () => void this.restartFrom(listener);
    if (!response.socket || response.socket.destroyed) return begin();
    response.once('close', begin);
    respondJson(listener, response, 202, accepted, { connection: 'close' });
  }

  private async deploy(body: Record<string, unknown>): Promise<ServiceRecord> {
    this.requireManager('deploy');
    const service = requiredString(body, 'service', SERVICE_PATTERN, 'a service name like orders-api');
    const artifact = body.artifact;
    if (typeof artifact !== 'string' || !isArtifactUri(artifact)) {
      throw new HttpError(400, 'artifact must be an s3:// or https:// URI');
    }
    const record: ServiceRecord = { service, artifact, deployedAt: new Date().toISOString() };
    await writeFileAtomic(this.servicePath(service), `${JSON.stringify(record, null, 2)}\n`);
    this.log({ event: 'deployed', id: this.options.id, service, artifact });
    return record;
  }

  private async undeploy(body: Record<string, unknown>): Promise<{ service: string; removed: boolean }> {
    this.requireManager('undeploy');
    const service = requiredString(body, 'service', SERVICE_PATTERN, 'a service name like orders-api');
    try {
      await fs.unlink(this.servicePath(service));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { service, removed: false };
      throw error;
    }
    this.log({ event: 'undeployed', id: this.options.id, service });
    return { service, removed: true };
  }

  private requireManager(action: string): void {
    if (this.options.role === 'manager') return;
    throw new HttpError(
      409,
      `cannot ${action} on ${this.options.id}: it is a ${this.options.role} node, whose deployment directory is ` +
        'read-only and follows the manager by file sync; run it on the manager',
    );
  }

  private async migrate(body: Record<string, unknown>) {
    const version = requiredString(body, 'version', VERSION_PATTERN, 'a version like 4.3.0');
    return this.withDbLock(async () => {
      const db = await this.readDb();
      const from = db.schemaVersion;
      if (from === version) return { changed: false, from, schemaVersion: version };
      if (from !== null && compareVersions(version, from) < 0) {
        throw new HttpError(409, `refusing to downgrade the database schema from ${from} to ${version}`);
      }
      const migration: Migration = { from, to: version, appliedAt: new Date().toISOString(), by: this.options.id };
      const next: Database = { schemaVersion: version, migrations: [...db.migrations, migration] };
      await writeFileAtomic(this.options.dbFile, `${JSON.stringify(next, null, 2)}\n`);
      this.log({ event: 'migrated', id: this.options.id, from, to: version });
      return { changed: true, from, schemaVersion: version };
    });
  }

  private async setSync(body: Record<string, unknown>) {
    const action = body.action;
    if (action !== 'pause' && action !== 'resume') throw new HttpError(400, 'action must be "pause" or "resume"');
    const syncPaused = action === 'pause';
    if (this.state.syncPaused !== syncPaused) {
      this.state = { ...this.state, syncPaused };
      await this.saveState();
      this.log({ event: syncPaused ? 'sync-paused' : 'sync-resumed', id: this.options.id });
    }
    return { syncPaused };
  }

  private async status(): Promise<NodeStatus> {
    const files = await this.deploymentFiles();
    const services: ServiceRecord[] = [];
    for (const file of files) {
      const record = await this.readService(file.slice(0, -'.json'.length));
      if (record) services.push(record);
    }
    let schemaVersion: string | null;
    try {
      schemaVersion = (await this.readDb()).schemaVersion;
    } catch {
      schemaVersion = null;
    }
    return {
      id: this.options.id,
      role: this.options.role,
      version: this.current?.version ?? this.state.version,
      bootId: this.current?.bootId ?? '',
      patches: [...this.state.patches],
      services,
      syncPaused: this.state.syncPaused,
      syncRounds: this.syncRounds,
      restarting: this.restarting,
      db: { schemaVersion },
    };
  }

  private servicePath(service: string): string {
    return path.join(this.deploymentDir, `${service}.json`);
  }

  private async readService(service: string): Promise<ServiceRecord | undefined> {
    if (!SERVICE_PATTERN.test(service)) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.servicePath(service), 'utf8');
    } catch {
      return undefined;
    }
    const record = parseJson(Buffer.from(text));
    if (!isRecord(record) || record.service !== service || typeof record.artifact !== 'string') return undefined;
    return { service, artifact: record.artifact, deployedAt: String(record.deployedAt ?? '') };
  }

  private async deploymentFiles(): Promise<string[]> {
    const entries = await fs.readdir(this.deploymentDir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && DEPLOYMENT_FILE_PATTERN.test(entry.name))
      .map((entry) => entry.name)
      .sort();
  }

  private async localManifest(): Promise<Map<string, string>> {
    const manifest = new Map<string, string>();
    for (const file of await this.deploymentFiles()) {
      try {
        manifest.set(file, sha256(await fs.readFile(path.join(this.deploymentDir, file))));
      } catch (error) {
        // Removed between the listing and the read: it is simply not part of this manifest.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return manifest;
  }

  private requireSyncSource(): void {
    if (this.options.role !== 'manager') throw new HttpError(404, 'only the manager serves file sync');
    if (this.state.syncPaused) throw new HttpError(503, 'file sync is paused on the manager');
  }

  private async manifest(): Promise<ManifestEntry[]> {
    this.requireSyncSource();
    const local = await this.localManifest();
    return [...local].map(([file, hash]) => ({ file, sha256: hash }));
  }

  private async syncFile(file: string): Promise<Buffer> {
    this.requireSyncSource();
    if (!DEPLOYMENT_FILE_PATTERN.test(file)) throw new HttpError(404, 'no such file');
    try {
      return await fs.readFile(path.join(this.deploymentDir, file));
    } catch {
      throw new HttpError(404, 'no such file');
    }
  }

  private scheduleSync(delayMs: number): void {
    if (this.closing) return;
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => void this.syncRound(), delayMs);
    this.syncTimer.unref();
  }

  private async syncRound(): Promise<void> {
    if (!this.state.syncPaused) {
      this.syncAbort = new AbortController();
      try {
        await this.pullFromManager(this.syncAbort.signal);
        if (this.lastSyncError !== undefined) this.log({ event: 'sync-recovered', id: this.options.id });
        this.lastSyncError = undefined;
      } catch (error) {
        // The manager being down or paused is routine; log only when the reason changes, not every round.
        const message = errorMessage(error);
        if (!this.closing && message !== this.lastSyncError) {
          this.log({ event: 'sync-error', id: this.options.id, message });
        }
        this.lastSyncError = message;
      } finally {
        this.syncAbort = undefined;
      }
    }
    this.syncRounds++;
    this.scheduleSync(this.syncIntervalMs);
  }

  /**
   * rsync semantics with the manager as the truth: fetch what differs, delete what the manager no longer has. A file
   * is written only when its content matches the manifest it was listed in, so nothing the manager holds after a
   * pause reaches this node before the pause is lifted.
   */
  private async pullFromManager(signal: AbortSignal): Promise<void> {
    const base = (this.options.managerUrl ?? '').replace(/\/+$/, '');
    const manifestResponse = await httpRequest(`${base}/_sync/manifest`, {
      timeoutMs: SYNC_REQUEST_TIMEOUT_MS,
      signal,
    });
    if (manifestResponse.status !== 200) {
      throw new Error(`manager manifest answered ${manifestResponse.status}: ${manifestResponse.body.toString()}`);
    }
    const remote = parseManifest(parseJson(manifestResponse.body));
    const local = await this.localManifest();
    const fetched: string[] = [];
    for (const [file, hash] of remote) {
      if (local.get(file) === hash) continue;
      if (this.state.syncPaused || this.closing) return;
      const fileResponse = await httpRequest(`${base}/_sync/file/${encodeURIComponent(file)}`, {
        timeoutMs: SYNC_REQUEST_TIMEOUT_MS,
        signal,
      });
      if (fileResponse.status !== 200) throw new Error(`manager file ${file} answered ${fileResponse.status}`);
      // Changed on the manager since its manifest: the next round picks up the new content with its new hash.
      if (sha256(fileResponse.body) !== hash) continue;
      await writeFileAtomic(path.join(this.deploymentDir, file), fileResponse.body);
      fetched.push(file);
    }
    const deleted: string[] = [];
    for (const file of local.keys()) {
      if (remote.has(file) || this.state.syncPaused || this.closing) continue;
      await fs.rm(path.join(this.deploymentDir, file), { force: true });
      deleted.push(file);
    }
    if (fetched.length > 0 || deleted.length > 0) {
      this.log({ event: 'synced', id: this.options.id, fetched, deleted });
    }
  }

  private async loadState(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.statePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const saved = parseJson(Buffer.from(text));
    if (!isRecord(saved) || typeof saved.version !== 'string' || !VERSION_PATTERN.test(saved.version)) {
      throw new Error(`${this.statePath} is not a valid node state file`);
    }
    const patches = Array.isArray(saved.patches)
      ? saved.patches.filter((patch): patch is string => typeof patch === 'string')
      : [];
    return { version: saved.version, patches, syncPaused: saved.syncPaused === true };
  }

  /** Writes one after another, so an older snapshot never lands after a newer one. */
  private saveState(): Promise<void> {
    const snapshot = `${JSON.stringify(this.state, null, 2)}\n`;
    const write = this.stateWrites.then(() => writeFileAtomic(this.statePath, snapshot));
    this.stateWrites = write.catch(() => undefined);
    return write;
  }

  private async readDb(): Promise<Database> {
    let text: string;
    try {
      text = await fs.readFile(this.options.dbFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: null, migrations: [] };
      throw error;
    }
    const db = parseJson(Buffer.from(text));
    if (!isRecord(db) || (db.schemaVersion !== undefined && typeof db.schemaVersion !== 'string')) {
      throw new HttpError(500, `the shared database ${this.options.dbFile} is not valid JSON of the expected shape`);
    }
    return {
      schemaVersion: typeof db.schemaVersion === 'string' ? db.schemaVersion : null,
      migrations: Array.isArray(db.migrations) ? (db.migrations as Migration[]) : [],
    };
  }

  /** Every node of the cluster writes the same file, possibly from other processes: an exclusive lock file guards it. */
  private async withDbLock<T>(work: () => Promise<T>): Promise<T> {
    const lockPath = `${this.options.dbFile}.lock`;
    const deadline = Date.now() + DB_LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        const handle = await fs.open(lockPath, 'wx');
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const stats = await fs.stat(lockPath).catch(() => undefined);
        if (stats && Date.now() - stats.mtimeMs > DB_LOCK_STALE_MS) {
          await fs.rm(lockPath, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new HttpError(503, `the shared database is locked (${lockPath})`);
        await unrefDelay(25);
      }
    }
    try {
      return await work();
    } finally {
      await fs.rm(lockPath, { force: true });
    }
  }
}

function respond(
  listener: Listener,
  response: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  const headers: http.OutgoingHttpHeaders = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extraHeaders,
  };
  // Tells keep-alive clients not to reuse a connection the node is about to close.
  if (listener.draining) headers.connection = 'close';
  response.writeHead(status, headers).end(body);
}

function respondJson(
  listener: Listener,
  response: http.ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  respond(listener, response, status, 'application/json', JSON.stringify(body), extraHeaders);
}

function readJsonBody(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      const body = parseJson(Buffer.from(text));
      if (!isRecord(body)) return reject(new HttpError(400, 'request body must be a JSON object'));
      resolve(body);
    });
  });
}

function optionalString(
  body: Record<string, unknown>,
  field: string,
  pattern: RegExp,
  expected: string,
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new HttpError(400, `${field} must be ${expected} (matching ${pattern})`);
  }
  return value;
}

function requiredString(body: Record<string, unknown>, field: string, pattern: RegExp, expected: string): string {
  const value = optionalString(body, field, pattern, expected);
  if (value === undefined) throw new HttpError(400, `${field} is required`);
  return value;
}

function parseManifest(body: unknown): Map<string, string> {
  if (!Array.isArray(body)) throw new Error('manager manifest is not a JSON array');
  const manifest = new Map<string, string>();
  for (const entry of body) {
    // Names come from another host and become paths here: anything but a plain deployment file name is refused.
    if (
      !isRecord(entry) ||
      typeof entry.file !== 'string' ||
      !DEPLOYMENT_FILE_PATTERN.test(entry.file) ||
      typeof entry.sha256 !== 'string' ||
      !SHA256_PATTERN.test(entry.sha256)
    ) {
      throw new Error(`manager manifest has an invalid entry: ${JSON.stringify(entry).slice(0, 200)}`);
    }
    manifest.set(entry.file, entry.sha256);
  }
  return manifest;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** `?delay-ms=N` holds a traffic request open, to exercise draining with requests in flight. */
function trafficDelay(query: string): number {
  const raw = new URLSearchParams(query).get('delay-ms');
  if (raw === null || !/^\d{1,6}$/.test(raw)) return 0;
  return Math.min(Number(raw), MAX_TRAFFIC_DELAY_MS);
}

function unrefDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Control requests come from the control script on the node itself. On a real instance the load balancer forwards
 * every path, so anything from another host is refused.
 */
function isSameHost(socket: net.Socket): boolean {
  const remote = normalizeAddress(socket.remoteAddress);
  if (remote === undefined) return false;
  return remote.startsWith('127.') || remote === '::1' || remote === normalizeAddress(socket.localAddress);
}

function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Readers (and the manager's manifest) only ever see a whole file: write aside, then rename over. */
async function writeFileAtomic(target: string, data: string | Buffer): Promise<void> {
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    await fs.writeFile(temporary, data);
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

const USAGE =
  'usage: server.ts --id ID --ip IP --port PORT --data-dir DIR --db FILE --version V --role manager|worker|surge|dr ' +
  '[--manager-url URL] [--boot-ms MS] [--sync-interval-ms MS]';

export function parseServerArgs(argv: string[]): NodeServerOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      id: { type: 'string' },
      ip: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      db: { type: 'string' },
      version: { type: 'string' },
      role: { type: 'string' },
      'manager-url': { type: 'string' },
      'boot-ms': { type: 'string' },
      'sync-interval-ms': { type: 'string' },
    },
  });
  const required = (name: keyof typeof values): string => {
    const value = values[name];
    if (!value) throw new Error(`--${name} is required`);
    return value;
  };
  const id = required('id');
  if (!/^[\w.-]{1,64}$/.test(id)) throw new Error(`--id must be an instance id like i-0abc (got "${id}")`);
  const ip = required('ip');
  if (net.isIP(ip) === 0) throw new Error(`--ip must be an IP address (got "${ip}")`);
  const version = required('version');
  if (!VERSION_PATTERN.test(version)) throw new Error(`--version must match ${VERSION_PATTERN} (got "${version}")`);
  const role = required('role');
  if (!NODE_ROLES.includes(role as NodeRole)) throw new Error(`--role must be one of ${NODE_ROLES.join(', ')}`);
  const managerUrl = values['manager-url'];
  if (managerUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(managerUrl)) {
    throw new Error(`--manager-url must be an http:// or https:// URL (got "${managerUrl}")`);
  }
  return {
    id,
    ip,
    port: integerOption('port', required('port'), 1, 65535),
    dataDir: path.resolve(required('data-dir')),
    dbFile: path.resolve(required('db')),
    version,
    role: role as NodeRole,
    ...(managerUrl ? { managerUrl } : {}),
    bootMs: integerOption('boot-ms', values['boot-ms'] ?? '1000', 0, 600_000),
    syncIntervalMs: integerOption('sync-interval-ms', values['sync-interval-ms'] ?? '500', 10, 3_600_000),
  };
}

function integerOption(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

async function main(): Promise<void> {
  let options: NodeServerOptions;
  try {
    options = parseServerArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  let node: NodeServer | undefined;
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: shutting down ${options.id}\n`);
    // Still booting: nothing listens yet and state writes are atomic, so leaving at once loses nothing.
    if (!node) process.exit(0);
    node.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${errorMessage(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  node = await startNodeServer(options);
}

if (typeof require !== 'undefined' && require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`node server failed: ${errorMessage(error)}\n`);
    process.exit(1);
  });
}
