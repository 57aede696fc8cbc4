import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeListenersCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { deadlineAfterPendingIo } from './deadline';
import { FAILURE_HEADER, type FailureCause } from './failure-causes';
import type { HealthChecker } from './health-checker';

/**
 * The ALB's data plane: a listener on loopback that sends each request to a target group chosen by the weights the
 * listener holds in moto, and within the group to a healthy target. Like an ALB it does not move traffic between
 * target groups when one has no healthy target (it fails open inside the group), and it lets in-flight requests to a
 * target finish after the target leaves. Like an ALB it may take a while to use new weights (`propagationMs`).
 */

export interface LoadBalancer {
  readonly url: string;
  /** The forward weights in use, by target group ARN: the last read's once their propagation delay has passed. */
  weights(): ReadonlyMap<string, number>;
  /**
   * Reads the listener's weights now: the sandbox calls it when a workflow changed them, before the call returns, so
   * a change starts its propagation at once. It resolves when the read is done: with no propagation delay the change
   * is then in use, with one it is not yet.
   */
  refresh(): Promise<void>;
  /** Resolves once every change read so far is in use: at once with no propagation delay. */
  propagated(): Promise<void>;
  close(): Promise<void>;
}

/** A backstop: weight changes made through the sandbox's AWS endpoint are read at once (see `refresh`). */
const WEIGHT_REFRESH_MS = 100;
/**
 * An ALB answers 504 when a target accepts a request and does not answer within the idle timeout (60 s by default).
 * The same long limit here means a node that is merely slow on a busy machine is waited for, not failed.
 */
const TARGET_TIMEOUT_MS = 60_000;

/** How long the listener keeps an idle client connection, as an ALB's default idle timeout. */
const LISTENER_IDLE_MS = 60_000;
const IDLE_CONNECTION_MS = 30_000;

export async function startLoadBalancer(options: {
  elbv2: ElasticLoadBalancingV2Client;
  listenerArn: string;
  health: HealthChecker;
  ipOf: (instanceId: string) => string | undefined;
  /**
   * Called with the weights each time they are applied: with no propagation delay, at each read of the listener;
   * with one, once per change, when the load balancer begins to use it.
   */
  onWeights?: (weights: ReadonlyMap<string, number>) => void;
  /** How long a target may take to answer before the load balancer answers 504. @default 60 s, as an ALB */
  targetTimeoutMs?: number;
  /** Between two reads of the weights when nobody calls `refresh`. @default 100 ms */
  rereadMs?: number;
  /**
   * From the read that first sees new weights to their use. An ALB takes a short while to apply a listener change;
   * AWS gives no figure. @default 0: a read applies its weights at once
   */
  propagationMs?: number;
}): Promise<LoadBalancer> {
  const propagationMs = options.propagationMs ?? 0;
  let weights = new Map<string, number>();
  const credits = new Map<string, number>();
  const nextTarget = new Map<string, number>();
  // Idle connections to a node are dropped well before the node would close them (it keeps them 65 s), so a request
  // never goes out on a connection the node is closing.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_CONNECTION_MS });

  const apply = (next: Map<string, number>) => {
    weights = next;
    options.onWeights?.(weights);
  };

  // With a delay, each change is applied `propagationMs` after the read that first saw it, in the order they were read:
  // one read while an earlier one propagates queues behind it, so neither is lost. One timer, for the first in line.
  let lastRead: Map<string, number> | undefined;
  const propagating: { applyAt: number; weights: Map<string, number> }[] = [];
  let propagationTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const applyDue = () => {
    propagationTimer = undefined;
    const now = performance.now();
    let due = propagating[0];
    while (due && due.applyAt <= now) {
      propagating.shift();
      apply(due.weights);
      due = propagating[0];
    }
    if (due) propagationTimer = setTimeout(applyDue, due.applyAt - now);
  };
  const propagate = (read: Map<string, number>) => {
    // A read still under way when the load balancer closes starts no timer.
    if (closed) return;
    // The weights the load balancer starts with are in use from the start.
    if (lastRead === undefined) {
      lastRead = read;
      apply(read);
      return;
    }
    if (sameWeights(read, lastRead)) return;
    lastRead = read;
    propagating.push({ applyAt: performance.now() + propagationMs, weights: read });
    propagationTimer ??= setTimeout(applyDue, propagationMs);
  };

  // Reads overlap (the backstop loop and a refresh on a weight change), so an answer counts only when no read sent
  // after it has counted already: a slow answer from before a change must not undo it.
  let reads = 0;
  let countedRead = 0;
  const refresh = async (): Promise<void> => {
    const read = ++reads;
    const answer = await options.elbv2.send(new DescribeListenersCommand({ ListenerArns: [options.listenerArn] }));
    if (read < countedRead) return;
    countedRead = read;
    const forward = answer.Listeners?.[0]?.DefaultActions?.find((action) => action.Type === 'forward');
    const groups = forward?.ForwardConfig?.TargetGroups ?? [];
    const readWeights = new Map(groups.map((group) => [group.TargetGroupArn ?? '', group.Weight ?? 0]));
    if (propagationMs > 0) propagate(readWeights);
    else apply(readWeights);
  };
  await refresh();
  let refreshing = true;
  let wakeUp = () => {};
  const refreshLoop = async () => {
    while (refreshing) {
      await refresh().catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.rereadMs ?? WEIGHT_REFRESH_MS);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const loop = refreshLoop();

  /** Smooth weighted round robin: exact proportions, no randomness, so runs repeat. */
  const pickGroup = (): string | undefined => {
    let total = 0;
    let best: string | undefined;
    for (const [arn, weight] of weights) {
      if (weight <= 0) continue;
      total += weight;
      const credit = (credits.get(arn) ?? 0) + weight;
      credits.set(arn, credit);
      if (best === undefined || credit > (credits.get(best) ?? 0)) best = arn;
    }
    if (best !== undefined) credits.set(best, (credits.get(best) ?? 0) - total);
    return best;
  };

  const pickTarget = (arn: string) => {
    const healthy = options.health.healthyTargets(arn);
    const candidates = healthy.length > 0 ? healthy : options.health.registeredTargets(arn);
    if (candidates.length === 0) return undefined;
    const index = (nextTarget.get(arn) ?? 0) % candidates.length;
    nextTarget.set(arn, index + 1);
    return candidates[index];
  };

  const fail = (response: http.ServerResponse, status: number, cause: FailureCause, target?: string) => {
    if (!response.headersSent) {
      response.writeHead(status, {
        'content-type': 'text/plain',
        [FAILURE_HEADER]: cause,
        ...(target ? { 'x-sandbox-target': target } : {}),
      });
    }
    response.end(`${cause}\n`);
  };

  const server = http.createServer((request, response) => {
    const arn = pickGroup();
    const target = arn ? pickTarget(arn) : undefined;
    const ip = target ? options.ipOf(target.id) : undefined;
    if (!target) {
      fail(response, 503, 'no-target');
      return;
    }
    // A registered target whose instance runs no node: nothing listens at its address.
    if (!ip) {
      fail(response, 502, 'target-down', target.id);
      return;
    }
    let answered = false;
    const upstream = http.request(
      {
        host: ip,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, 'x-forwarded-for': request.socket.remoteAddress ?? '' },
        agent,
      },
      (answer) => {
        answered = true;
        cancelDeadline();
        response.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-sandbox-target': target.id });
        answer.pipe(response);
      },
    );
    const cancelDeadline = deadlineAfterPendingIo(options.targetTimeoutMs ?? TARGET_TIMEOUT_MS, () => {
      upstream.destroy();
      fail(response, 504, 'target-timeout', target.id);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      cancelDeadline();
      if (answered) {
        response.destroy();
        return;
      }
      fail(response, 502, error.code === 'ECONNREFUSED' ? 'target-down' : 'target-reset', target.id);
    });
    request.pipe(upstream);
  });
  server.keepAliveTimeout = LISTENER_IDLE_MS;
  server.headersTimeout = LISTENER_IDLE_MS + 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    weights: () => weights,
    refresh,
    propagated: async () => {
      // A change read while this waits is waited for too.
      for (let last = propagating.at(-1); last && !closed; last = propagating.at(-1)) {
        const { applyAt } = last;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, applyAt - performance.now())));
      }
    },
    close: async () => {
      closed = true;
      refreshing = false;
      wakeUp();
      await loop;
      clearTimeout(propagationTimer);
      propagating.length = 0;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function sameWeights(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  return a.size === b.size && [...a].every(([arn, weight]) => b.get(arn) === weight);
}
