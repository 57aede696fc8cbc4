import * as net from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BOOT_MS, DEFAULT_SYNC_INTERVAL_MS, type NodeServerOptions } from './options';
import { NODE_ROLES, type NodeRole, VERSION_PATTERN } from './protocol';

/** The node's command line: every value is checked here, so a bad one stops the process before it boots. */

export const USAGE =
  'usage: server.ts --id ID --ip IP --port PORT --data-dir DIR --db FILE --version V --role manager|worker|surge|dr ' +
  '[--manager-url URL] [--boot-ms MS] [--sync-interval-ms MS] [--old-version-runs-on-new-schema true|false]';

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
      'old-version-runs-on-new-schema': { type: 'string' },
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
  const schemaRule = values['old-version-runs-on-new-schema'];
  if (schemaRule !== undefined && schemaRule !== 'true' && schemaRule !== 'false') {
    throw new Error(`--old-version-runs-on-new-schema must be true or false (got "${schemaRule}")`);
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
    ...(schemaRule ? { oldVersionRunsOnNewSchema: schemaRule === 'true' } : {}),
    bootMs: integerOption('boot-ms', values['boot-ms'] ?? String(DEFAULT_BOOT_MS), 0, 600_000),
    syncIntervalMs: integerOption(
      'sync-interval-ms',
      values['sync-interval-ms'] ?? String(DEFAULT_SYNC_INTERVAL_MS),
      10,
      3_600_000,
    ),
  };
}

function integerOption(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}
