import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeListenersCommand, type ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
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
  close(): Promise<void>;
}

const WEIGHT_REFRESH_MS = 100;
const TARGET_TIMEOUT_MS = 10_000;
/** How long the listener keeps an idle client connection, as an ALB's default idle timeout. */
const LISTENER_IDLE_MS = 60_000;
const IDLE_CONNECTION_MS = 30_000;

export async function startLoadBalancer(options: {
  elbv2: ElasticLoadBalancingV2Client;
  listenerArn: string;
  health: HealthChecker;
  ipOf: (instanceId: string) => string | undefined;
}): Promise<LoadBalancer> {
  let weights = new Map<string, number>();
  const credits = new Map<string, number>();
  const nextTarget = new Map<string, number>();
  // Idle connections to a node are dropped well before the node would close them (it keeps them 65 s), so a request
  // never goes out on a connection the node is closing.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: IDLE_CONNECTION_MS });

  const refresh = async () => {
    const answer = await options.elbv2.send(new DescribeListenersCommand({ ListenerArns: [options.listenerArn] }));
    const forward = answer.Listeners?.[0]?.DefaultActions?.find((action) => action.Type === 'forward');
    const groups = forward?.ForwardConfig?.TargetGroups ?? [];
    weights = new Map(groups.map((group) => [group.TargetGroupArn ?? '', group.Weight ?? 0]));
  };
  await refresh();
  let refreshing = true;
  const refreshLoop = async () => {
    while (refreshing) {
      await refresh().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, WEIGHT_REFRESH_MS));
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

  const server = http.createServer((request, response) => {
    const arn = pickGroup();
    const target = arn ? pickTarget(arn) : undefined;
    const ip = target ? options.ipOf(target.id) : undefined;
    if (!target || !ip) {
      response.writeHead(503, { 'content-type': 'text/plain' });
      response.end('no registered target\n');
      return;
    }
    const upstream = http.request(
      {
        host: ip,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: { ...request.headers, 'x-forwarded-for': request.socket.remoteAddress ?? '' },
        agent,
        timeout: TARGET_TIMEOUT_MS,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-sandbox-target': target.id });
        answer.pipe(response);
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('target timed out')));
    upstream.on('error', () => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('bad gateway\n');
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
    close: async () => {
      refreshing = false;
      await loop;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
