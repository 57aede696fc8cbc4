import * as http from 'node:http';
import * as https from 'node:https';

/**
 * What the node server and its control script agree on: the shapes of operator-supplied values and a minimal HTTP
 * client. Kept free of imports from the rest of the project so the node directory can be copied onto a real instance.
 */

export const PATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;
export const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/;
export const SERVICE_PATTERN = /^[A-Za-z][\w.-]{0,127}$/;
/** The private IPv4 addresses `reconfigure` passes: the members (1 to 5, comma-separated) and the manager. */
const IPV4 = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}';
export const MEMBERS_PATTERN = new RegExp(`^${IPV4}(,${IPV4}){0,4}$`);
export const MANAGER_PATTERN = new RegExp(`^${IPV4}$`);
export const MANAGER_URL_PATTERN = /^https?:\/\/[^\s/]+$/;
/** A deployment file is named after its service; anything else in the directory (temporary files) is not synced. */
export const DEPLOYMENT_FILE_PATTERN = /^[A-Za-z][\w.-]{0,127}\.json$/;
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export type NodeRole = 'manager' | 'worker' | 'surge' | 'dr';
export const NODE_ROLES: readonly NodeRole[] = ['manager', 'worker', 'surge', 'dr'];

export interface ServiceRecord {
  service: string;
  artifact: string;
  deployedAt: string;
}

export interface ManifestEntry {
  file: string;
  sha256: string;
}

export interface HealthBody {
  status: string;
  id: string;
  version: string;
  role: NodeRole;
  /** Changes every time the node starts listening, so a caller can tell a restarted node from one not yet down. */
  bootId: string;
  /** Why the node does not serve, with status `incompatible-schema` (answered with 503). */
  error?: string;
}

export interface RestartAccepted {
  accepted: true;
  previousBootId: string;
  version: string;
  patchId: string | null;
  bootMs: number;
}

export interface NodeStatus {
  id: string;
  role: NodeRole;
  version: string;
  bootId: string;
  patches: string[];
  services: ServiceRecord[];
  syncPaused: boolean;
  /** File sync rounds this node finished since its process started (paused rounds too); 0 on the manager. */
  syncRounds: number;
  restarting: boolean;
  db: {
    schemaVersion: string | null;
    /** What the node was started with: false makes a version older than the schema refuse to serve. */
    oldVersionRunsOnNewSchema: boolean;
    /** Why the node refuses to serve on this schema (`version 1.0.0 cannot run on database schema 2.0.0`); null while it serves. */
    refusing: string | null;
  };
}

export function isArtifactUri(value: string): boolean {
  if (value.length > 2048 || /\s/.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 's3:') return url.hostname.length > 0 && url.pathname.length > 1;
  return url.protocol === 'https:' && url.hostname.length > 0;
}

/**
 * Orders versions the way releases are numbered: dot-separated parts compare numerically when both are numbers,
 * a pre-release (`1.0.0-rc1`) comes before its release, and build metadata (`+build`) is ignored.
 */
export function compareVersions(left: string, right: string): number {
  const [leftMain, leftPre] = splitVersion(left);
  const [rightMain, rightPre] = splitVersion(right);
  const main = compareParts(leftMain, rightMain);
  if (main !== 0) return main;
  if (leftPre === rightPre) return 0;
  if (leftPre === null) return 1;
  if (rightPre === null) return -1;
  return compareParts(leftPre, rightPre);
}

function splitVersion(version: string): [string, string | null] {
  const withoutBuild = version.split('+', 1)[0] ?? '';
  const dash = withoutBuild.indexOf('-');
  return dash < 0 ? [withoutBuild, null] : [withoutBuild.slice(0, dash), withoutBuild.slice(dash + 1)];
}

function compareParts(left: string, right: string): number {
  const leftParts = left.split(/[.-]/);
  const rightParts = right.split(/[.-]/);
  for (let index = 0; index < Math.max(leftParts.length, rightParts.length); index++) {
    const a = leftParts[index];
    const b = rightParts[index];
    if (a === undefined) return -1;
    if (b === undefined) return 1;
    const aNumeric = /^\d+$/.test(a);
    const bNumeric = /^\d+$/.test(b);
    if (aNumeric && bNumeric) {
      const difference = Number(a) - Number(b);
      if (difference !== 0) return Math.sign(difference);
    } else if (aNumeric !== bNumeric) {
      return aNumeric ? -1 : 1;
    } else if (a !== b) {
      return a < b ? -1 : 1;
    }
  }
  return 0;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * One request on a connection of its own: pooled keep-alive sockets would outlive a node's restart and make the next
 * call fail on a socket the node has already closed.
 */
export function httpRequest(
  url: string,
  options: { method?: string; body?: unknown; timeoutMs: number; signal?: AbortSignal },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: http.OutgoingHttpHeaders = { connection: 'close' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    const request = client.request(target, {
      method: options.method ?? 'GET',
      headers,
      agent: false,
      signal: options.signal,
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    timer.unref();
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          request.destroy(new Error(`response from ${target.origin} exceeds ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      });
      response.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    request.end(payload);
  });
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
