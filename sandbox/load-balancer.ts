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
 * target finish after the target leaves.
 */

export interface LoadBalancer {
  readonly url: string;
  /** The forward weights last read, by target group ARN. */
  weights(): ReadonlyMap<string, number>;
  /** Reads the listener's weights now: the sandbox calls it when a workflow changed them, before the call returns. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** A backstop: weight changes made through the sandbox's AWS endpoint apply at once (see `refresh`). */
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
  /** Called with the weights each time a read of the listener applies them. */
  onWeights?: (weights: ReadonlyMap<string, number>) => void;
  /** How long a target may take to answer before the load balancer answers 504. @default 60 s, as an ALB */
  targetTimeoutMs?: number;
  /** Between two reads of the weights when nobody calls `refresh`. @default 100 ms */
  rereadMs?: number;
}): Promise<LoadBalancer> {
  let weights = new Map<string, number>();
  const credits = new Map<string, number>();
  const nextTarget = new Map<string, number>();
  // Idle connections to a node are dropped well before the node would close them (it keeps them 65 s), so a request
  // never goes out on a connection the node is closing.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_CONNECTION_MS });

  // Reads overlap (the backstop loop and a refresh on a weight change), so an answer applies only when no read sent
  // after it has applied already: a slow answer from before a change must not undo it.
  let reads = 0;
  let appliedRead = 0;
  const refresh = async (): Promise<void> => {
    const read = ++reads;
    const answer = await options.elbv2.send(new DescribeListenersCommand({ ListenerArns: [options.listenerArn] }));
    if (read < appliedRead) return;
    appliedRead = read;
    const forward = answer.Listeners?.[0]?.DefaultActions?.find((action) => action.Type === 'forward');
    const groups = forward?.ForwardConfig?.TargetGroups ?? [];
    weights = new Map(groups.map((group) => [group.TargetGroupArn ?? '', group.Weight ?? 0]));
    options.onWeights?.(weights);
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
    close: async () => {
      refreshing = false;
      wakeUp();
      await loop;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
