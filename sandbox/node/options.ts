import type { NodeRole } from './protocol';

/**
 * What a node is started with, in process or from the command line, and the defaults for what may be left out: kept
 * apart so the command line and the runtime share one set of defaults.
 */

export type NodeLog = (event: Record<string, unknown>) => void;

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
  /**
   * What the product declares about its schema: false means a version older than the shared database's schema cannot
   * run on it, and the node refuses to serve (schema-check.ts). @default true: every version serves on every schema
   */
  oldVersionRunsOnNewSchema?: boolean;
  bootMs?: number;
  syncIntervalMs?: number;
  /** How long close() lets in-flight requests finish before cutting their connections. */
  shutdownGraceMs?: number;
  /** Receives one structured event per line-worthy happening; JSON lines on stdout by default. */
  log?: NodeLog;
}

/** The options with every default filled in. */
export type NodeSettings = Required<Omit<NodeServerOptions, 'managerUrl'>> & Pick<NodeServerOptions, 'managerUrl'>;

export const DEFAULT_BOOT_MS = 1000;
export const DEFAULT_SYNC_INTERVAL_MS = 500;
const DEFAULT_SHUTDOWN_GRACE_MS = 3000;

export function withDefaults(options: NodeServerOptions): NodeSettings {
  return {
    ...options,
    bootMs: options.bootMs ?? DEFAULT_BOOT_MS,
    syncIntervalMs: options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS,
    shutdownGraceMs: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
    oldVersionRunsOnNewSchema: options.oldVersionRunsOnNewSchema ?? true,
    log: options.log ?? ((event) => process.stdout.write(`${JSON.stringify(event)}\n`)),
  };
}
