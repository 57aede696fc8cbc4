import type { NodeLog } from './options';
import { compareVersions } from './protocol';

/**
 * Whether the node's version may serve on the shared database's schema. A product declares whether its old version
 * keeps working on a schema migrated for a newer one (an expand-only migration). When it does not, a node whose
 * version is older than the schema refuses every product request and its health checks with 503, and says why. A
 * version equal to or newer than the schema always serves: the new version runs on the old schema until the
 * migrations run, which is the model zerodown relies on when it migrates last.
 */

/** How long a read of the schema version is trusted: a migration by another node is seen within this time. */
export const SCHEMA_REFRESH_MS = 250;

/**
 * The release a version belongs to, which is what the schema follows: a patch raises a node's update level
 * (1.0.0 with patch P42 reports 1.0.0-P42) without changing its schema, and build metadata (`+build7`) never does.
 */
export function releaseOf(version: string): string {
  return version.split(/[-+]/, 1)[0] || version;
}

/**
 * Whether a node on `version` runs on a database whose schema is at `schemaVersion`, when the old version does not
 * run on a newer schema: it does when its release is the schema's or newer (dotted numbers compare numerically, so
 * 1.10.0 is newer than 1.9.0), or when the database has no schema yet.
 */
export function runsOnSchema(version: string, schemaVersion: string | null): boolean {
  return schemaVersion === null || compareVersions(releaseOf(version), releaseOf(schemaVersion)) >= 0;
}

/** Why a node on `version` must not serve on `schemaVersion`, or undefined when it may. */
export function schemaIncompatibility(version: string, schemaVersion: string | null): string | undefined {
  return runsOnSchema(version, schemaVersion)
    ? undefined
    : `version ${version} cannot run on database schema ${schemaVersion}`;
}

export interface SchemaGuardOptions {
  readonly id: string;
  /** True (or not declared): every version serves on every schema, and nothing is read. False: see the module. */
  readonly oldVersionRunsOnNewSchema: boolean;
  /** The schema version in the shared database, or null when there is none or it cannot be read; never rejects. */
  readonly read: () => Promise<string | null>;
  readonly log: NodeLog;
  readonly refreshMs?: number;
  readonly now?: () => number;
}

/**
 * The check every product request goes through. It reads the shared database at most once every `refreshMs`
 * (concurrent requests share one read), so a request costs a comparison on a cached value, not a file read. The node
 * logs when it starts refusing and when it serves again, not on every request.
 */
export class SchemaGuard {
  private known: { schemaVersion: string | null; readAt: number } | undefined;
  private reading: Promise<string | null> | undefined;
  /** Counts the notes, so a read that a note overtook does not bring back the older schema it found. */
  private notes = 0;
  /** Why the node refuses to serve, as last judged; undefined while it serves. */
  private refusingFor: string | undefined;
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(private readonly options: SchemaGuardOptions) {
    this.refreshMs = options.refreshMs ?? SCHEMA_REFRESH_MS;
    this.now = options.now ?? Date.now;
  }

  /** Whether the node checks its version against the schema at all. */
  get enforcing(): boolean {
    return !this.options.oldVersionRunsOnNewSchema;
  }

  /** Why a node on `version` must not serve now, or undefined when it may. */
  async refusal(version: string): Promise<string | undefined> {
    if (!this.enforcing) return undefined;
    return this.judge(version, await this.schemaVersion());
  }

  /** A schema version the node learned itself (it ran the migration, or read it for its status): trusted as a read. */
  note(schemaVersion: string | null): void {
    this.known = { schemaVersion, readAt: this.now() };
    this.notes++;
  }

  /** Why a node on `version` must not serve on `schemaVersion`; logs when the verdict changes. */
  judge(version: string, schemaVersion: string | null): string | undefined {
    const reason = this.enforcing ? schemaIncompatibility(version, schemaVersion) : undefined;
    if (reason !== this.refusingFor) {
      const { id, log } = this.options;
      if (reason !== undefined) {
        log({ event: 'schema-incompatible', id, version, schemaVersion, message: `refusing to serve: ${reason}` });
      } else {
        log({ event: 'schema-compatible', id, version, schemaVersion });
      }
      this.refusingFor = reason;
    }
    return reason;
  }

  private schemaVersion(): Promise<string | null> | string | null {
    const known = this.known;
    if (known && this.now() - known.readAt < this.refreshMs) return known.schemaVersion;
    if (this.reading) return this.reading;
    const startedAt = this.now();
    const notesBefore = this.notes;
    const reading = this.options.read().then(
      (schemaVersion) => {
        // A schema noted while the file was being read is newer than what the read found.
        if (this.notes === notesBefore || !this.known) this.known = { schemaVersion, readAt: startedAt };
        return this.known.schemaVersion;
      },
      // `read` does not reject; should it, the last known schema stands until the next read.
      () => known?.schemaVersion ?? null,
    );
    this.reading = reading;
    void reading.finally(() => {
      if (this.reading === reading) this.reading = undefined;
    });
    return reading;
  }
}
