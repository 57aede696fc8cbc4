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
 * holds, reads a weight change as soon as it is told and uses it after its propagation delay (at once without one),
 * and names the cause of every error it answers, so a report can tell the cluster's failures from a busy machine's.
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

/** Polls until `done` holds; the limit only stops a test in which it never does. */
async function waitUntil(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} never happened`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the nodes pass their checks. */
function waitUntilHealthy(instanceIds: readonly string[]): Promise<void> {
  const healthy = () => instanceIds.every((id) => health.stateOf({ id, port: cluster.nodePort }).state === 'healthy');
  return waitUntil(healthy, `${instanceIds.join(', ')} passing their health checks`);
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
  balancer = await startBalancer();
});

/** A load balancer on the cluster's listener that records the weights it applies in `weightReads`. */
function startBalancer(options: { propagationMs?: number } = {}): Promise<LoadBalancer> {
  weightReads = [];
  return startLoadBalancer({
    elbv2: elbv2Client,
    listenerArn: cluster.model.traffic.listenerArn,
    health,
    ipOf: (id) => ips.get(id),
    onWeights: (weights) => weightReads.push(new Map(weights)),
    targetTimeoutMs: TARGET_TIMEOUT_MS,
    ...options,
  });
}

afterEach(async () => {
  await balancer.close();
  health.stop();
  for (const target of targets.values()) {
    target.server.closeAllConnections();
    await new Promise((resolve) => target.server.close(resolve));
  }
});

const nodeOf = (slot: string) => cluster.model.nodes.find((node) => node.slot === slot)?.instanceId ?? '';

/** Weights by slot, as `setWeights` takes them. */
function bySlot(weights: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(cluster.targetGroups).map(([slot, arn]) => [slot, weights.get(arn) ?? 0]));
}

describe('the sandbox load balancer', () => {
  it('sends traffic by the listener weights, and applies a change as soon as it is told', async () => {
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('a') });

    await setWeights({ b: 100 });

    // No wait between the change and the request: the refresh applied it.
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('b') });
    expect(weightReads.at(-1)?.get(cluster.targetGroups.b ?? '')).toBe(100);
  });

  it('with a propagation delay, keeps the old weights after the read that saw a change', async () => {
    // 30 s: far longer than the test, so no timing decides the outcome.
    await balancer.close();
    balancer = await startBalancer({ propagationMs: 30_000 });

    await setWeights({ b: 100 });

    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('a') });
    expect(bySlot(balancer.weights())).toEqual({ a: 100, b: 0, surge: 0 });
    expect(weightReads.map(bySlot)).toEqual([{ a: 100, b: 0, surge: 0 }]);
  });

  it('with a propagation delay of 0, uses a change as soon as the read that saw it is done', async () => {
    await balancer.close();
    balancer = await startBalancer({ propagationMs: 0 });

    await setWeights({ b: 100 });

    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('b') });
    expect(bySlot(balancer.weights())).toEqual({ a: 0, b: 100, surge: 0 });
  });

  it('applies changes made back to back once each, in order, after their propagation delay', async () => {
    await balancer.close();
    balancer = await startBalancer({ propagationMs: 300 });

    await setWeights({ a: 50, b: 50 });
    await setWeights({ b: 100 });
    await waitUntil(() => balancer.weights().get(cluster.targetGroups.b ?? '') === 100, 'the second change applied');

    expect(weightReads.map(bySlot)).toEqual([
      { a: 100, b: 0, surge: 0 },
      { a: 50, b: 50, surge: 0 },
      { a: 0, b: 100, surge: 0 },
    ]);
    expect(await get(balancer.url)).toEqual({ status: 200, target: nodeOf('b') });
  });

  it('tells when every change it read is in use', async () => {
    await balancer.close();
    balancer = await startBalancer({ propagationMs: 300 });

    await setWeights({ b: 100 });
    await balancer.propagated();

    expect(bySlot(balancer.weights())).toEqual({ a: 0, b: 100, surge: 0 });
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
