import * as http from 'node:http';

/**
 * Steady traffic through the sandbox's load balancer, bounded in rate, count and time, and to loopback only. Every
 * request is recorded: when, status, latency and which node answered.
 */

export interface LoadSettings {
  readonly requestsPerSecond: number;
  /** The load stops after this long even if nobody stops it. */
  readonly maxDurationMs: number;
  readonly timeoutMs: number;
  /** How long the node takes to answer each request, so requests are in flight when traffic moves. */
  readonly serverTimeMs: number;
}

export interface RequestRecord {
  /** Milliseconds since the load started. */
  readonly at: number;
  /** HTTP status, or 0 when the request failed without one (refused, reset, timed out). */
  readonly status: number;
  readonly latencyMs: number;
  readonly node?: string;
  readonly error?: string;
}

export interface LoadRun {
  readonly records: RequestRecord[];
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

export interface LoadSummary {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
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
  const started = performance.now();
  const maxRequests = Math.ceil((settings.requestsPerSecond * settings.maxDurationMs) / 1000);
  const intervalMs = 1000 / settings.requestsPerSecond;
  let sent = 0;
  let running = true;

  const send = () => {
    const at = performance.now() - started;
    const request = new Promise<void>((resolve) => {
      const record = (status: number, node?: string, error?: string) => {
        records.push({
          at: Math.round(at),
          status,
          latencyMs: Math.round((performance.now() - started - at) * 10) / 10,
          ...(node ? { node } : {}),
          ...(error ? { error } : {}),
        });
        resolve();
      };
      const outgoing = http.get(
        {
          host: target.hostname,
          port: target.port,
          path: `/load/${sent}?delay-ms=${settings.serverTimeMs}`,
          agent,
          timeout: settings.timeoutMs,
        },
        (response) => {
          response.resume();
          response.on('end', () => record(response.statusCode ?? 0, response.headers['x-sandbox-target'] as string));
          response.on('error', (error) => record(0, undefined, error.message));
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
      outgoing.on('error', (error) => record(0, undefined, error.message));
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
  let ok = 0;
  for (const record of records) {
    byStatus[String(record.status)] = (byStatus[String(record.status)] ?? 0) + 1;
    if (record.node) byNode[record.node] = (byNode[record.node] ?? 0) + 1;
    if (record.status >= 200 && record.status < 400) ok++;
  }
  const failures = records.filter((record) => record.status < 200 || record.status >= 400).slice(0, FAILURE_SAMPLES);
  return { total: records.length, ok, failed: records.length - ok, byStatus, byNode, failures };
}
