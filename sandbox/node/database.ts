import * as fs from 'node:fs/promises';
import { HttpError } from './http-io';
import type { NodeLog } from './options';
import { compareVersions, isRecord, parseJson } from './protocol';
import { writeFileAtomic } from './state-store';
import { unrefDelay } from './timers';

/**
 * The cluster's shared database, one JSON file `{ schemaVersion, migrations }` that every node reads and migrates,
 * written only under its lock file.
 */

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

export interface MigrationResult {
  changed: boolean;
  from: string | null;
  schemaVersion: string;
}

const DB_LOCK_TIMEOUT_MS = 5_000;
const DB_LOCK_STALE_MS = 10_000;

export class SharedDatabase {
  constructor(
    private readonly file: string,
    private readonly nodeId: string,
    private readonly log: NodeLog,
  ) {}

  /** The schema version, or null when the file cannot be read. */
  async schemaVersion(): Promise<string | null> {
    try {
      return (await this.read()).schemaVersion;
    } catch {
      return null;
    }
  }

  /** Moves the schema to `version`, never back; a node that finds it there already changes nothing. */
  migrate(version: string): Promise<MigrationResult> {
    return this.withLock(async () => {
      const db = await this.read();
      const from = db.schemaVersion;
      if (from === version) return { changed: false, from, schemaVersion: version };
      if (from !== null && compareVersions(version, from) < 0) {
        throw new HttpError(409, `refusing to downgrade the database schema from ${from} to ${version}`);
      }
      const migration: Migration = { from, to: version, appliedAt: new Date().toISOString(), by: this.nodeId };
      const next: Database = { schemaVersion: version, migrations: [...db.migrations, migration] };
      await writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`);
      this.log({ event: 'migrated', id: this.nodeId, from, to: version });
      return { changed: true, from, schemaVersion: version };
    });
  }

  private async read(): Promise<Database> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: null, migrations: [] };
      throw error;
    }
    const db = parseJson(Buffer.from(text));
    if (!isRecord(db) || (db.schemaVersion !== undefined && typeof db.schemaVersion !== 'string')) {
      throw new HttpError(500, `the shared database ${this.file} is not valid JSON of the expected shape`);
    }
    return {
      schemaVersion: typeof db.schemaVersion === 'string' ? db.schemaVersion : null,
      migrations: Array.isArray(db.migrations) ? (db.migrations as Migration[]) : [],
    };
  }

  /** Every node of the cluster writes the same file, possibly from other processes: an exclusive lock file guards it. */
  private async withLock<T>(work: () => Promise<T>): Promise<T> {
    const lockPath = `${this.file}.lock`;
    await acquireLock(lockPath);
    try {
      return await work();
    } finally {
      await fs.rm(lockPath, { force: true });
    }
  }
}

/** Creates the lock file, waiting while another node holds it and taking over one left behind by a dead holder. */
async function acquireLock(lockPath: string): Promise<void> {
  const deadline = Date.now() + DB_LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const handle = await fs.open(lockPath, 'wx');
      await handle.close();
      return;
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
}
