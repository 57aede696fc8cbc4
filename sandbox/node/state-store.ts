import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isRecord, parseJson, VERSION_PATTERN } from './protocol';

/**
 * The node's persisted state (state.json), so a restarted process keeps its patched version, and the atomic file
 * write every file of the node goes through.
 */

export interface PersistedState {
  version: string;
  patches: string[];
  syncPaused: boolean;
  /** Where file sync pulls from since the last `reconfigure`; it wins over the address the process started with. */
  managerUrl?: string;
}

export class StateStore {
  private state: PersistedState;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly statePath: string,
    version: string,
  ) {
    this.state = { version, patches: [], syncPaused: false };
  }

  get current(): Readonly<PersistedState> {
    return this.state;
  }

  /** Takes over what an earlier process left in state.json, and writes the file back (the first boot creates it). */
  async load(): Promise<void> {
    this.state = (await this.read()) ?? this.state;
    await this.save();
  }

  /** Changes the state in memory at once, and on disk in the order of the changes. */
  update(change: Partial<PersistedState>): Promise<void> {
    this.state = { ...this.state, ...change };
    return this.save();
  }

  /** Resolves once every write started so far has landed or failed. */
  settled(): Promise<void> {
    return this.writes;
  }

  private async read(): Promise<PersistedState | undefined> {
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
    const managerUrl = typeof saved.managerUrl === 'string' ? { managerUrl: saved.managerUrl } : {};
    return { version: saved.version, patches, syncPaused: saved.syncPaused === true, ...managerUrl };
  }

  /** Writes one after another, so an older snapshot never lands after a newer one. */
  private save(): Promise<void> {
    const snapshot = `${JSON.stringify(this.state, null, 2)}\n`;
    const write = this.writes.then(() => writeFileAtomic(this.statePath, snapshot));
    this.writes = write.catch(() => undefined);
    return write;
  }
}

/** Readers (and the manager's manifest) only ever see a whole file: write aside, then rename over. */
export async function writeFileAtomic(target: string, data: string | Buffer): Promise<void> {
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    await fs.writeFile(temporary, data);
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
