import * as http from 'node:http';
import { deadlineAfterPendingIo } from './deadline';
import { FAILURE_HEADER, type FailureCause, LOAD_CAUSES } from './failure-causes';

/**
 * Steady traffic through the sandbox's load balancer, bounded in rate, count and time, and to loopback only. Every
 * request is recorded: when, status, latency and which node answered.
 */

/** How much of a failed answer's body a record keeps. */
const ERROR_BODY_LIMIT = 200;

export interface LoadSettings {
  readonly requestsPerSecond: number;
  /** The load stops after this long even if nobody stops it. */
  readonly maxDurationMs: number;
  readonly timeoutMs: number;
  /** How long the node takes to answer each request, so requests are in flight when traffic moves. */
  readonly serverTimeMs: number;
}

/** A request failed when it got no status (0: refused, reset, timed out) or an error status. */
export function isFailedStatus(status: number): boolean {
  return status < 200 || status >= 400;
}

export interface RequestRecord {
  /** When the request was sent: milliseconds since the load started (`LoadRun.startedAt`). */
  readonly at: number;
  /** HTTP status, or 0 when the request failed without one (refused, reset, timed out). */
  readonly status: number;
  /** Whole milliseconds from sending to the answer: `at + latencyMs` is when the request ended. */
  readonly latencyMs: number;
  readonly node?: string;
  readonly error?: string;
  /** Why a failed request failed: what the load balancer saw, or what the client saw. */
  readonly cause?: FailureCause;
}

export interface LoadRun {
  readonly records: RequestRecord[];
  /** Date.now() when the load started: the origin of every record's `at`. */
  readonly startedAt: number;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

export interface LoadSummary {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  /** Failed requests by cause (see failure-causes.ts). */
  readonly failedByCause: Partial<Record<FailureCause, number>>;
  /** Failed requests the machine's load explains (a node or the sandbox too slow to answer), not the cluster. */
  readonly failedUnderLoad: number;
  readonly byStatus: Record<string, number>;
  /** The first failed requests, with what went wrong. */
  readonly failures: RequestRecord[];
  readonly byNode: Record<string, number>;
}

const MAX_RATE = 1_000;
const IDLE_CONNECTION_MS = 30_000;
/** How many failed requests the summary lists in full. */
const FAILURE_SAMPLES = 20;

export function startLoad(url: string, settings: LoadSettings): LoadRun {
  const target = new URL(url);
  if (!target.hostname.startsWith('127.')) throw new Error(`Load goes to loopback only, not ${target.hostname}`);
  if (!(settings.requestsPerSecond > 0 && settings.requestsPerSecond <= MAX_RATE)) {
    throw new Error(`requestsPerSecond must be between 1 and ${MAX_RATE}`);
  }
  // Idle connections close on this side long before the load balancer's 60 s idle timeout, as a well-behaved client
  // does: a request sent on a connection the server is just closing would fail for the client's sake, not the
  // cluster's.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32, timeout: IDLE_CONNECTION_MS });
  const records: RequestRecord[] = [];
  const inFlight = new Set<Promise<void>>();
  // Records are timed with Date.now(), the clock every part of the sandbox stamps its events with, so a request's
  // times compare exactly with a node's death or a weight change stamped on another thread. Pacing uses the monotonic
  // clock.
  const startedAt = Date.now();
  const started = performance.now();
  const maxRequests = Math.ceil((settings.requestsPerSecond * settings.maxDurationMs) / 1000);
  const intervalMs = 1000 / settings.requestsPerSecond;
  let sent = 0;
  let running = true;

  const send = () => {
    const sentAt = Date.now();
    const request = new Promise<void>((resolve) => {
      let recorded = false;
      const record = (status: number, details: { node?: string; error?: string; cause?: FailureCause }) => {
        if (recorded) return;
        recorded = true;
        cancelDeadline();
        const failed = isFailedStatus(status);
        records.push({
          at: sentAt - startedAt,
          status,
          latencyMs: Date.now() - sentAt,
          ...(details.node ? { node: details.node } : {}),
          ...(details.error ? { error: details.error } : {}),
          ...(failed ? { cause: details.cause ?? 'node-error' } : {}),
        });
        resolve();
      };
      const outgoing = http.get(
        { host: target.hostname, port: target.port, path: `/load/${sent}?delay-ms=${settings.serverTimeMs}`, agent },
        (response) => {
          const status = response.statusCode ?? 0;
          const cause = response.headers[FAILURE_HEADER] as FailureCause | undefined;
          const node = response.headers['x-sandbox-target'] as string | undefined;
          // A failed answer keeps the start of its body: why the node or the load balancer refused it.
          let body = '';
          if (status >= 400) {
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => {
              if (body.length < ERROR_BODY_LIMIT) body += chunk;
            });
          } else {
            response.resume();
          }
          response.on('end', () => {
            const error = body.trim().slice(0, ERROR_BODY_LIMIT);
            record(status, { ...(node ? { node } : {}), ...(cause ? { cause } : {}), ...(error ? { error } : {}) });
          });
          response.on('error', (error) => record(0, { error: error.message, cause: 'client-error' }));
        },
      );
      const cancelDeadline = deadlineAfterPendingIo(settings.timeoutMs, () => {
        record(0, { error: `no answer within ${settings.timeoutMs} ms`, cause: 'client-timeout' });
        outgoing.destroy();
      });
      outgoing.on('error', (error) => record(0, { error: error.message, cause: 'client-error' }));
    });
    inFlight.add(request);
    void request.then(() => inFlight.delete(request));
  };

  // Paced against the start time, so a slow tick does not lower the rate.
  const timer = setInterval(
    () => {
      const due = Math.min(maxRequests, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (running && sent < due) {
        send();
        sent++;
      }
      if (sent >= maxRequests) running = false;
    },
    Math.max(1, Math.floor(intervalMs)),
  );

  return {
    records,
    startedAt,
    stop: async () => {
      running = false;
      clearInterval(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
    },
  };
}

export function summarize(records: readonly RequestRecord[]): LoadSummary {
  const byStatus: Record<string, number> = {};
  const byNode: Record<string, number> = {};
  const failedByCause: Partial<Record<FailureCause, number>> = {};
  let ok = 0;
  let failedUnderLoad = 0;
  for (const record of records) {
    byStatus[String(record.status)] = (byStatus[String(record.status)] ?? 0) + 1;
    if (record.node) byNode[record.node] = (byNode[record.node] ?? 0) + 1;
    if (!isFailedStatus(record.status)) {
      ok++;
      continue;
    }
    const cause = record.cause ?? 'node-error';
    failedByCause[cause] = (failedByCause[cause] ?? 0) + 1;
    if (LOAD_CAUSES.has(cause)) failedUnderLoad++;
  }
  const failures = records.filter((record) => isFailedStatus(record.status)).slice(0, FAILURE_SAMPLES);
  return {
    total: records.length,
    ok,
    failed: records.length - ok,
    failedByCause,
    failedUnderLoad,
    byStatus,
    byNode,
    failures,
  };
}
