import * as http from 'node:http';
import { ElasticLoadBalancingV2Client, ModifyListenerCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { createMotoCluster, type MotoCluster } from '../../local/moto-cluster';
import { FAILURE_HEADER } from '../../sandbox/failure-causes';
import { HealthChecker } from '../../sandbox/health-checker';
import { type LoadBalancer, startLoadBalancer } from '../../sandbox/load-balancer';
import { useMoto } from '../harness/moto';

/**
 * The sandbox's load balancer against a moto listener and real targets on loopback: it routes by the weights moto
 * holds, applies a weight change as soon as it is told, and names the cause of every error it answers, so a report
 * can tell the cluster's failures from a busy machine's.
 */

type Mode = 'answer' | 'hang' | 'reset';

interface Target {
  mode: Mode;
  readonly server: http.Server;
}

const TARGET_TIMEOUT_MS = 300;

useMoto();

let cluster: MotoCluster;
let targets: Map<string, Target>;
let ips: Map<string, string>;
let health: HealthChecker;
let balancer: LoadBalancer;
let weightReads: ReadonlyMap<string, number>[];

async function serveTarget(ip: string, port: number): Promise<Target> {
  const target: Target = { mode: 'answer', server: http.createServer() };
  target.server.on('request', (request, response) => {
    if (request.url === '/health') return void response.writeHead(200).end('ok');
    if (target.mode === 'reset') return void request.socket.destroy();
    if (target.mode === 'answer') response.writeHead(200).end('served');
    // 'hang': accept the request and never answer.
  });
  await new Promise<void>((resolve) => target.server.listen(port, ip, resolve));
  return target;
}

function get(url: string): Promise<{ status: number; failure?: string; target?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/orders`, { agent: false }, (response) => {
        response.resume();
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            ...(response.headers[FAILURE_HEADER] ? { failure: String(response.headers[FAILURE_HEADER]) } : {}),
            ...(response.headers['x-sandbox-target'] ? { target: String(response.headers['x-sandbox-target']) } : {}),
          }),
        );
      })
      .on('error', reject);
  });
}

/** Waits until the nodes pass their checks; the limit only stops a test whose nodes never do. */
async function waitUntilHealthy(instanceIds: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  const healthy = () => instanceIds.every((id) => health.stateOf({ id, port: cluster.nodePort }).state === 'healthy');
  while (!healthy()) {
    if (Date.now() > deadline) throw new Error(`${instanceIds.join(', ')} never passed their health checks`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function setWeights(weights: Record<string, number>): Promise<void> {
  await elbv2Client.send(
    new ModifyListenerCommand({
      ListenerArn: cluster.model.traffic.listenerArn,
      DefaultActions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: Object.entries(cluster.targetGroups).map(([slot, arn]) => ({
              TargetGroupArn: arn,
              Weight: weights[slot] ?? 0,
            })),
          },
        },
      ],
    }),
  );
  await balancer.refresh();
}

beforeEach(async () => {
  cluster = await createMotoCluster({ topology: 'active-passive' });
  targets = new Map();
  ips = new Map(Object.entries(cluster.privateIps));
  for (const [id, ip] of ips) targets.set(id, await serveTarget(ip, cluster.nodePort));
  health = new HealthChecker({
    elbv2For: () => elbv2Client,
    targetGroupArns: Object.values(cluster.targetGroups),
    ipOf: (id) => ips.get(id),
    settings: {
      intervalMs: 20,
      timeoutMs: 2_000,
      healthyThreshold: 2,
      unhealthyThreshold: 2,
      deregistrationDelayMs: 100,
      path: '/health',
    },
  });
  health.start();
  // The load balancer knows a group's targets from the health checker, as traffic starts once nodes pass their checks.
  await waitUntilHealthy(Object.keys(cluster.privateIps));
  weightReads = [];
  balancer = await startLoadBalancer({
    elbv2: elbv2Client,
    listenerArn: cluster.model.traffic.listenerArn,
    health,
    ipOf: (id) => ips.get(id),
    onWeights: (weights) => weightReads.push(new Map(weights)),
    targetTimeoutMs: TARGET_TIMEOUT_MS,
  });
});

afterEach(async () => {
  await balancer.close();
  health.stop();
  for (const target of targets.values()) {
    target.server.closeAllConnections();
    await new Promise((resolve) => target.server.close(resolve));
  }
});

const nodeOf = (slot: string) => cluster.model.nodes.find((node) => node.slot === slot)?.instanceId ?? '';

describe('the sandbox load balancer', () => {
  it('sends traffic by the listener weights, and applies a change as soon as it is told', async () => {
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('a') });

    await setWeights({ b: 100 });

    // No wait between the change and the request: the refresh applied it.
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('b') });
    expect(weightReads.at(-1)?.get(cluster.targetGroups.b ?? '')).toBe(100);
  });

  it('names a target that accepts a request and never answers: 504 target-timeout', async () => {
    const active = targets.get(nodeOf('a'));
    if (active) active.mode = 'hang';

    expect(await get(balancer.url)).toEqual({ status: 504, failure: 'target-timeout', target: nodeOf('a') });
  });

  it('names a target that closes the connection before answering: 502 target-reset', async () => {
    const active = targets.get(nodeOf('a'));
    if (active) active.mode = 'reset';

    expect(await get(balancer.url)).toEqual({ status: 502, failure: 'target-reset', target: nodeOf('a') });
  });

  it('names a target that refuses, or whose instance runs no node: 502 target-down', async () => {
    const active = targets.get(nodeOf('a'));
    await new Promise((resolve) => active?.server.close(resolve));
    active?.server.closeAllConnections();

    expect(await get(balancer.url)).toEqual({ status: 502, failure: 'target-down', target: nodeOf('a') });

    ips.delete(nodeOf('a'));
    expect(await get(balancer.url)).toEqual({ status: 502, failure: 'target-down', target: nodeOf('a') });
  });

  it('names weights that leave no group to send to: 503 no-target', async () => {
    await setWeights({});

    expect(await get(balancer.url)).toEqual({ status: 503, failure: 'no-target' });
  });

  it('keeps a slow answer from before a change from undoing it', async () => {
    // Prepare: a client that can hold an answer back after moto gave it (moto answers at once, so SDK middleware
    // holds it), and a load balancer that reads only when told to.
    let release = () => {};
    let answered = () => {};
    const gotAnswer = new Promise<void>((resolve) => {
      answered = resolve;
    });
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holdNext = false;
    const slowClient = new ElasticLoadBalancingV2Client({});
    slowClient.middlewareStack.add(
      (next) => async (args) => {
        const hold = holdNext;
        holdNext = false;
        const result = await next(args);
        if (hold) {
          answered();
          await held;
        }
        return result;
      },
      { step: 'deserialize', name: 'holdOneAnswer' },
    );
    await balancer.close();
    balancer = await startLoadBalancer({
      elbv2: slowClient,
      listenerArn: cluster.model.traffic.listenerArn,
      health,
      ipOf: (id) => ips.get(id),
      rereadMs: 3_600_000,
    });

    // Act: a read that got the old weights is held while the weights change and a later read applies them.
    holdNext = true;
    const staleRead = balancer.refresh();
    await gotAnswer;
    await setWeights({ b: 100 });
    release();
    await staleRead;

    // Assess
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('b') });
  });
});
