import type { DeploymentDir } from './deployment';
import { sha256 } from './deployment';
import { HttpError } from './http-io';
import type { NodeLog } from './options';
import {
  DEPLOYMENT_FILE_PATTERN,
  errorMessage,
  httpRequest,
  isRecord,
  type ManifestEntry,
  type NodeRole,
  parseJson,
  SHA256_PATTERN,
} from './protocol';
import type { StateStore } from './state-store';

/**
 * File sync, the stand-in for rsync between the manager's deployment directory and everyone else's: the manager
 * serves a manifest and the files (SyncSource), workers and surge nodes pull from it in rounds (SyncPuller).
 */

const SYNC_REQUEST_TIMEOUT_MS = 5_000;

/** The manager's side: what /_sync/manifest and /_sync/file/<name> answer. */
export class SyncSource {
  constructor(
    private readonly role: NodeRole,
    private readonly deployment: DeploymentDir,
    private readonly state: StateStore,
  ) {}

  async manifest(): Promise<ManifestEntry[]> {
    this.requireServing();
    const local = await this.deployment.manifest();
    return [...local].map(([file, hash]) => ({ file, sha256: hash }));
  }

  async file(file: string): Promise<Buffer> {
    this.requireServing();
    if (!DEPLOYMENT_FILE_PATTERN.test(file)) throw new HttpError(404, 'no such file');
    try {
      return await this.deployment.readFile(file);
    } catch {
      throw new HttpError(404, 'no such file');
    }
  }

  private requireServing(): void {
    if (this.role !== 'manager') throw new HttpError(404, 'only the manager serves file sync');
    if (this.state.current.syncPaused) throw new HttpError(503, 'file sync is paused on the manager');
  }
}

export interface SyncPullerOptions {
  id: string;
  managerUrl: string;
  intervalMs: number;
  deployment: DeploymentDir;
  state: StateStore;
  log: NodeLog;
}

/** The worker's side: a round every `intervalMs`, from the node's boot until it closes, skipped while paused. */
export class SyncPuller {
  private base: string;
  private timer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;
  private lastError: string | undefined;
  private stopped = false;
  /** Sync rounds finished since the process started, paused ones included: proof that sync had its chance. */
  private finishedRounds = 0;

  constructor(private readonly options: SyncPullerOptions) {
    this.base = options.managerUrl.replace(/\/+$/, '');
  }

  /** Where the rounds pull from. */
  get managerUrl(): string {
    return this.base;
  }

  /** Pulls from another manager from the next round on (a failover replaced it, at a new address). */
  retarget(managerUrl: string): void {
    this.base = managerUrl.replace(/\/+$/, '');
  }

  get rounds(): number {
    return this.finishedRounds;
  }

  start(): void {
    this.schedule(0);
  }

  /** Ends the rounds for good, cutting short a pull under way. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.round(), delayMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    if (!this.options.state.current.syncPaused) await this.pullLoggingErrors();
    this.finishedRounds++;
    this.schedule(this.options.intervalMs);
  }

  private async pullLoggingErrors(): Promise<void> {
    const { id, log } = this.options;
    this.abort = new AbortController();
    try {
      await this.pull(this.abort.signal);
      if (this.lastError !== undefined) log({ event: 'sync-recovered', id });
      this.lastError = undefined;
    } catch (error) {
      // The manager being down or paused is routine; log only when the reason changes, not every round.
      const message = errorMessage(error);
      if (!this.stopped && message !== this.lastError) log({ event: 'sync-error', id, message });
      this.lastError = message;
    } finally {
      this.abort = undefined;
    }
  }

  /** Whether this round must stop where it is: sync was paused or the node is closing since it began. */
  private get interrupted(): boolean {
    return this.options.state.current.syncPaused || this.stopped;
  }

  /**
   * rsync semantics with the manager as the truth: fetch what differs, delete what the manager no longer has. A file
   * is written only when its content matches the manifest it was listed in, so nothing the manager holds after a
   * pause reaches this node before the pause is lifted.
   */
  private async pull(signal: AbortSignal): Promise<void> {
    const remote = await this.fetchManifest(signal);
    const local = await this.options.deployment.manifest();
    const fetched: string[] = [];
    for (const [file, hash] of remote) {
      if (local.get(file) === hash) continue;
      if (this.interrupted) return;
      if (await this.fetchFile(file, hash, signal)) fetched.push(file);
    }
    const deleted: string[] = [];
    for (const file of local.keys()) {
      if (remote.has(file) || this.interrupted) continue;
      await this.options.deployment.removeFile(file);
      deleted.push(file);
    }
    if (fetched.length > 0 || deleted.length > 0) {
      this.options.log({ event: 'synced', id: this.options.id, fetched, deleted });
    }
  }

  private async fetchManifest(signal: AbortSignal): Promise<Map<string, string>> {
    const response = await httpRequest(`${this.base}/_sync/manifest`, { timeoutMs: SYNC_REQUEST_TIMEOUT_MS, signal });
    if (response.status !== 200) {
      throw new Error(`manager manifest answered ${response.status}: ${response.body.toString()}`);
    }
    return parseManifest(parseJson(response.body));
  }

  /** Whether the file was written: it is not when it changed on the manager after the manifest was read. */
  private async fetchFile(file: string, hash: string, signal: AbortSignal): Promise<boolean> {
    const response = await httpRequest(`${this.base}/_sync/file/${encodeURIComponent(file)}`, {
      timeoutMs: SYNC_REQUEST_TIMEOUT_MS,
      signal,
    });
    if (response.status !== 200) throw new Error(`manager file ${file} answered ${response.status}`);
    // Changed on the manager since its manifest: the next round picks up the new content with its new hash.
    if (sha256(response.body) !== hash) return false;
    await this.options.deployment.writeFile(file, response.body);
    return true;
  }
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
