import { parentPort, workerData } from 'node:worker_threads';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import type {
  DataPlaneCalls,
  DataPlaneConfig,
  DataPlaneMessage,
  DataPlaneRequest,
  DataPlaneView,
  NodeState,
  NodeStateChange,
  TrafficResult,
  TrafficSpec,
  WeightChange,
} from './data-plane';
import { type DnsFront, startDnsFront } from './dns-front';
import { HealthChecker } from './health-checker';
import { type LoadRun, startLoad, summarize } from './load';
import { type LoadBalancer, startLoadBalancer } from './load-balancer';

/** The data plane's thread: see data-plane.ts. */

const VIEW_INTERVAL_MS = 100;

const config = workerData as DataPlaneConfig;
const port = parentPort;
if (!port) throw new Error('data-plane-worker.ts runs as a worker thread of the sandbox');

const client = { endpoint: config.motoEndpoint, credentials: config.credentials };
const elbv2 = new ElasticLoadBalancingV2Client({ ...client, region: config.primaryRegion });
const drElbv2 = new ElasticLoadBalancingV2Client({ ...client, region: config.drRegion });
const elbv2For = (arn: string) => (arn.split(':')[3] === config.drRegion ? drElbv2 : elbv2);

const ips = new Map<string, string>();
const ipOf = (instanceId: string) => ips.get(instanceId);
const health = new HealthChecker({ elbv2For, targetGroupArns: config.targetGroupArns, ipOf, settings: config.health });
health.start();

interface Traffic {
  readonly balancers: LoadBalancer[];
  readonly front?: DnsFront;
  readonly drDnsName?: string;
  readonly load: LoadRun;
  readonly loadStartedAt: number;
  readonly weightChanges: WeightChange[];
  readonly sampler: NodeJS.Timeout;
  readonly baselineServing: number;
  minServing: number;
  readonly nodeStates: Map<string, NodeStateChange[]>;
}
let traffic: Traffic | undefined;

/** The node's state as the primary load balancer sees it now. */
function nodeStateOf(instanceId: string, weights: ReadonlyMap<string, number>): NodeState {
  if (!ips.has(instanceId)) return 'gone';
  const groups = config.targetGroupArns.flatMap((arn) =>
    health
      .describe(arn, health.registeredTargets(arn))
      .filter((target) => target.id === instanceId)
      .map((target) => ({ arn, state: target.state })),
  );
  if (groups.length === 0) return 'standby';
  if (groups.some((group) => group.state === 'healthy')) {
    return groups.some((group) => group.state === 'healthy' && (weights.get(group.arn) ?? 0) > 0)
      ? 'serving'
      : 'standby';
  }
  if (groups.some((group) => group.state === 'draining')) return 'draining';
  return groups.some((group) => group.state === 'unhealthy') ? 'unhealthy' : 'booting';
}

/** Notes each node's state when it changed since the last sample. */
function sampleNodeStates(running: Traffic): void {
  const weights = running.balancers[0]?.weights() ?? new Map<string, number>();
  for (const instanceId of new Set([...ips.keys(), ...running.nodeStates.keys()])) {
    const changes = running.nodeStates.get(instanceId) ?? [];
    const state = nodeStateOf(instanceId, weights);
    if (changes.at(-1)?.state !== state) {
      changes.push({ at: Date.now(), state });
      running.nodeStates.set(instanceId, changes);
    }
  }
}

const servingHealthy = (weights: ReadonlyMap<string, number>) =>
  [...weights].filter(([arn, weight]) => weight > 0 && health.healthyTargets(arn).length > 0).length;

function view(running: Traffic): DataPlaneView {
  const [primary] = running.balancers;
  const weights = primary?.weights() ?? new Map<string, number>();
  const requests = summarize(running.load.records);
  return {
    weights: [...weights],
    servingHealthy: servingHealthy(weights),
    ok: requests.ok,
    failed: requests.failed,
    dns: running.front ? (running.front.answer() === running.drDnsName ? 'dr' : 'primary') : null,
  };
}

async function startTraffic(
  spec: TrafficSpec,
): Promise<{ entryUrl: string; loadStartedAt: number; baselineServing: number }> {
  if (traffic) throw new Error('traffic is already running');
  const weightChanges: WeightChange[] = [];
  const primary = await startLoadBalancer({
    elbv2,
    listenerArn: spec.listenerArn,
    health,
    ipOf,
    propagationMs: spec.propagationMs,
    ...(spec.targetTimeoutMs === undefined ? {} : { targetTimeoutMs: spec.targetTimeoutMs }),
    onWeights: (weights) => {
      const entries = [...weights];
      const last = weightChanges.at(-1)?.weights;
      if (!last || JSON.stringify(last) !== JSON.stringify(entries)) {
        weightChanges.push({ at: Date.now(), weights: entries });
      }
    },
  });
  const balancers = [primary];
  let front: DnsFront | undefined;
  if (spec.dr) {
    const dr = await startLoadBalancer({
      elbv2: drElbv2,
      listenerArn: spec.dr.listenerArn,
      health,
      ipOf,
      propagationMs: spec.propagationMs,
      ...(spec.targetTimeoutMs === undefined ? {} : { targetTimeoutMs: spec.targetTimeoutMs }),
    });
    balancers.push(dr);
    front = await startDnsFront({
      route53: new Route53Client({ ...client, region: 'us-east-1' }),
      hostedZoneId: spec.dr.hostedZoneId,
      recordName: spec.dr.recordName,
      loadBalancers: new Map([
        [spec.dr.primaryDnsName.toLowerCase(), primary.url],
        [spec.dr.drDnsName.toLowerCase(), dr.url],
      ]),
      ttlMs: spec.dr.ttlMs,
    });
  }
  const entryUrl = front?.url ?? primary.url;
  const baselineServing = Math.max(1, servingHealthy(primary.weights()));
  const load = startLoad(entryUrl, spec.load);
  const loadStartedAt = load.startedAt;
  const running: Traffic = {
    balancers,
    ...(front ? { front } : {}),
    ...(spec.dr ? { drDnsName: spec.dr.drDnsName.toLowerCase() } : {}),
    load,
    loadStartedAt,
    weightChanges,
    baselineServing,
    minServing: baselineServing,
    nodeStates: new Map(),
    sampler: setInterval(() => {
      const current = view(running);
      running.minServing = Math.min(running.minServing, current.servingHealthy);
      sampleNodeStates(running);
      port?.postMessage({ kind: 'view', view: current } satisfies DataPlaneMessage);
    }, VIEW_INTERVAL_MS),
  };
  traffic = running;
  return { entryUrl, loadStartedAt, baselineServing };
}

async function stopTraffic(): Promise<TrafficResult> {
  const running = traffic;
  if (!running) throw new Error('no traffic is running');
  traffic = undefined;
  // The load runs on until the load balancers use the last change a workflow made, so the report and the final
  // state show it (the backstop reads still see a change made meanwhile).
  await Promise.all(running.balancers.map((balancer) => balancer.propagated()));
  clearInterval(running.sampler);
  await running.load.stop();
  await running.front?.close();
  await Promise.all(running.balancers.map((balancer) => balancer.close()));
  return {
    records: running.load.records,
    loadStartedAt: running.loadStartedAt,
    weightChanges: running.weightChanges,
    baselineServing: running.baselineServing,
    minServing: running.minServing,
    nodeStates: Object.fromEntries(running.nodeStates),
  };
}

type Handlers = { [K in keyof DataPlaneCalls]: (...args: Parameters<DataPlaneCalls[K]>) => unknown };

const handlers: Handlers = {
  setNodes: (nodes) => {
    ips.clear();
    for (const [id, ip] of nodes) ips.set(id, ip);
  },
  forceUnhealthy: (instanceId) => health.forcedUnhealthy.add(instanceId),
  deregistered: (targetGroupArn, targets) => health.deregistered(targetGroupArn, targets),
  describeTargets: (targetGroupArn, targets) => health.describe(targetGroupArn, targets),
  targetStates: (targets) => targets.map((target) => health.stateOf(target).state),
  refreshWeights: async () => {
    await Promise.all((traffic?.balancers ?? []).map((balancer) => balancer.refresh()));
  },
  startTraffic,
  stopTraffic,
  close: async () => {
    if (traffic) await stopTraffic();
    health.stop();
  },
};

port.on('message', (request: DataPlaneRequest) => {
  const handler = handlers[request.call] as (...args: unknown[]) => unknown;
  Promise.resolve()
    .then(() => handler(...request.args))
    .then(
      (result) => port.postMessage({ kind: 'reply', id: request.id, result } satisfies DataPlaneMessage),
      (error: unknown) =>
        port.postMessage({
          kind: 'reply',
          id: request.id,
          error: error instanceof Error ? error.message : String(error),
        } satisfies DataPlaneMessage),
    );
});
