import * as path from 'node:path';
import { ControlActions, type NodeLifeCycle } from './control-actions';
import { SharedDatabase } from './database';
import { DeploymentDir } from './deployment';
import { HttpError } from './http-io';
import { createListener, drain, type Listener } from './listener';
import { type NodeServerOptions, type NodeSettings, withDefaults } from './options';
import { errorMessage, type RestartAccepted } from './protocol';
import { Router } from './routes';
import { SchemaGuard } from './schema-check';
import { StateStore } from './state-store';
import { SyncPuller, SyncSource } from './sync';
import { Sleeper } from './timers';

/**
 * The node's life cycle: boot (with file sync already running), listen with retries, restart onto another version,
 * drain and shut down. It also builds the parts the node is made of and hands each one what it needs.
 */

const LISTEN_ATTEMPTS = 20;
const LISTEN_RETRY_MS = 250;

export class NodeRuntime implements NodeLifeCycle {
  private readonly settings: NodeSettings;
  private readonly state: StateStore;
  private readonly deployment: DeploymentDir;
  private readonly puller: SyncPuller | undefined;
  private readonly router: Router;
  private readonly schema: SchemaGuard;
  private readonly sleeper = new Sleeper();
  private readonly listeners = new Set<Listener>();
  private port: number;
  private currentListener: Listener | undefined;
  private restartUnderWay = false;
  private refusedSources = new Set<string>();
  private closing = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: NodeServerOptions) {
    const settings = withDefaults(options);
    this.settings = settings;
    this.port = settings.port;
    this.state = new StateStore(path.join(settings.dataDir, 'state.json'), settings.version);
    this.deployment = new DeploymentDir(path.join(settings.dataDir, 'deployment'));
    this.puller = this.createPuller();
    const database = new SharedDatabase(settings.dbFile, settings.id, settings.log);
    this.schema = new SchemaGuard({
      id: settings.id,
      oldVersionRunsOnNewSchema: settings.oldVersionRunsOnNewSchema,
      read: () => database.schemaVersion(),
      log: settings.log,
    });
    const actions = new ControlActions({
      settings,
      node: this,
      state: this.state,
      deployment: this.deployment,
      database,
      schema: this.schema,
      puller: this.puller,
    });
    const sync = new SyncSource(settings.role, this.deployment, this.state);
    this.router = new Router({ settings, deployment: this.deployment, sync, actions, schema: this.schema });
  }

  get url(): string {
    return `http://${this.settings.ip}:${this.port}`;
  }

  /** The listener answering now; none between going down for a restart and listening again. */
  get current(): Listener | undefined {
    return this.currentListener;
  }

  get restarting(): boolean {
    return this.restartUnderWay;
  }

  /** Workers and surge nodes pull the manager's deployment directory; the manager, and a node without one, do not. */
  private createPuller(): SyncPuller | undefined {
    const { id, role, managerUrl, syncIntervalMs, log } = this.settings;
    if (role === 'manager' || !managerUrl) return undefined;
    return new SyncPuller({
      id,
      managerUrl,
      intervalMs: syncIntervalMs,
      deployment: this.deployment,
      state: this.state,
      log,
    });
  }

  async boot(): Promise<void> {
    await this.deployment.create();
    await this.state.load();
    // A manager address set by `reconfigure` outlives the one the process was started with.
    const recorded = this.state.current.managerUrl;
    if (recorded) this.puller?.retarget(recorded);
    // File sync runs while the server boots, as rsync on a real host would.
    this.puller?.start();
    await this.sleeper.sleep(this.settings.bootMs);
    if (this.closing) throw new Error(`node ${this.settings.id} was closed while booting`);
    await this.listen();
  }

  async close(): Promise<void> {
    this.closePromise ??= this.shutDown();
    return this.closePromise;
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    this.puller?.stop();
    this.sleeper.wakeAll();
    const listeners = [...this.listeners];
    for (const listener of listeners) drain(listener);
    const allClosed = Promise.all(listeners.map((listener) => listener.closed));
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      graceTimer = setTimeout(resolve, this.settings.shutdownGraceMs);
    });
    await Promise.race([allClosed, graceOver]);
    clearTimeout(graceTimer);
    for (const listener of listeners) listener.server.closeAllConnections();
    await allClosed;
    await this.state.settled();
    this.settings.log({ event: 'closed', id: this.settings.id });
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
        await this.sleeper.sleep(LISTEN_RETRY_MS);
        if (this.closing) throw error;
      }
    }
  }

  private listenOnce(): Promise<void> {
    const listener = createListener(this.settings.id, this.state.current.version);
    const server = listener.server;
    server.on('request', (request, response) => this.router.handle(listener, request, response));
    server.on('connection', (socket) => {
      const remote = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      if (this.refusedSources.has(remote)) socket.destroy();
    });
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        server.close();
        reject(error);
      };
      server.once('error', onError);
      server.listen({ host: this.settings.ip, port: this.port }, () => {
        server.off('error', onError);
        if (this.closing) {
          server.close();
          reject(new Error(`node ${this.settings.id} was closed while starting to listen`));
          return;
        }
        this.takeOver(listener);
        resolve();
      });
    });
  }

  /** Makes a listener that has just started listening the one that answers, and announces it. */
  private takeOver(listener: Listener): void {
    const { id, ip, role, log } = this.settings;
    const server = listener.server;
    server.on('error', (error) => log({ event: 'error', id, message: errorMessage(error) }));
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.listeners.add(listener);
    void listener.closed.then(() => this.listeners.delete(listener));
    this.currentListener = listener;
    log({
      event: 'listening',
      id,
      ip,
      port: this.port,
      url: this.url,
      version: listener.version,
      role,
      bootId: listener.bootId,
    });
    // Says at once, not at the first request, when this version cannot serve on the schema.
    void this.schema.refusal(listener.version);
  }

  /** Claims the restart for `listener` and records where it goes, before anything goes down. */
  /** New connections only: a peer's probes open one each (the load balancer's come from elsewhere and stay). */
  refuseConnectionsFrom(addresses: readonly string[]): void {
    this.refusedSources = new Set(addresses);
  }

  async acceptRestart(
    listener: Listener,
    version: string | undefined,
    patchId: string | undefined,
  ): Promise<RestartAccepted> {
    if (this.restartUnderWay || listener !== this.currentListener) {
      throw new HttpError(409, 'a restart is already in progress');
    }
    this.restartUnderWay = true;
    try {
      const { patches } = this.state.current;
      const nextPatches = patchId && !patches.includes(patchId) ? [...patches, patchId] : patches;
      // Recorded before going down, so a node that dies mid-restart comes back on the version it was given.
      await this.state.update({ version: version ?? this.state.current.version, patches: nextPatches });
    } catch (error) {
      this.restartUnderWay = false;
      throw error;
    }
    return {
      accepted: true,
      previousBootId: listener.bootId,
      version: this.state.current.version,
      patchId: patchId ?? null,
      bootMs: this.settings.bootMs,
    };
  }

  /** Goes down from `listener` and listens again after the boot time; the restart accepted last is over then. */
  async restartFrom(listener: Listener): Promise<void> {
    const { id, bootMs, log } = this.settings;
    try {
      log({ event: 'restarting', id, version: this.state.current.version, bootMs });
      drain(listener);
      if (this.currentListener === listener) this.currentListener = undefined;
      await this.sleeper.sleep(bootMs);
      if (this.closing) return;
      await this.listen();
    } catch (error) {
      if (!this.closing) log({ event: 'error', id, message: errorMessage(error) });
    } finally {
      this.restartUnderWay = false;
    }
  }
}
