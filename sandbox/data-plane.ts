import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { HealthCheckSettings, RegisteredTarget } from './health-checker';
import type { LoadSettings, RequestRecord } from './load';

/**
 * The sandbox's data plane (health checks, the load balancers, the DNS front and the load) on a thread of its own.
 *
 * On AWS, clients and the load balancer never wait for Step Functions or Lambda. In the sandbox the orchestration
 * runs in this process too, and its work comes in bursts that hold the event loop for a while (loading a handler
 * module, validating a state machine, collecting garbage): on a busy machine, seconds. Traffic on the same event
 * loop would wait with it, and a busy machine would turn into timed-out requests that no workflow caused. On its own
 * thread the data plane keeps serving while the orchestration works; the two talk through messages.
 */

export interface DataPlaneConfig {
  readonly motoEndpoint: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  readonly primaryRegion: string;
  readonly drRegion: string;
  /** Every target group the health checker watches, in either region. */
  readonly targetGroupArns: readonly string[];
  readonly health: HealthCheckSettings;
}

export interface TrafficSpec {
  readonly listenerArn: string;
  /** How long each load balancer takes to use a change of its listener's weights, in real milliseconds. */
  readonly propagationMs: number;
  /** How long a load balancer waits for a target's answer before it answers 504, in real milliseconds. */
  readonly targetTimeoutMs?: number;
  /** With a DR site, clients reach the cluster by its DNS name, as moto's Route 53 records answer it. */
  readonly dr?: {
    readonly listenerArn: string;
    readonly hostedZoneId: string;
    readonly recordName: string;
    readonly primaryDnsName: string;
    readonly drDnsName: string;
    /** How long a DNS answer is kept, in real milliseconds. */
    readonly ttlMs: number;
  };
  readonly load: LoadSettings;
}

/** What the data plane saw last: read by progress lines and fault steps without a round trip. */
export interface DataPlaneView {
  /** The primary listener's weights, by target group ARN, as the load balancer applies them. */
  readonly weights: readonly (readonly [string, number])[];
  /** Target groups with weight and at least one healthy target. */
  readonly servingHealthy: number;
  readonly ok: number;
  readonly failed: number;
  /** Where the cluster's DNS name points, when there is a DR site. */
  readonly dns: 'primary' | 'dr' | null;
}

/** A change of the primary listener's weights, as the load balancer applied it. */
export interface WeightChange {
  /** Date.now() when the load balancer started using the weights. */
  readonly at: number;
  readonly weights: readonly (readonly [string, number])[];
}

/**
 * A node as the load balancer sees it: starting (no health verdict yet), serving (healthy, with weight), standby
 * (healthy, no weight, or in no target group), draining, unhealthy, or gone (its process no longer runs).
 */
export type NodeState = 'booting' | 'serving' | 'standby' | 'draining' | 'unhealthy' | 'gone';

export interface NodeStateChange {
  /** Date.now() when the data plane first saw the state. */
  readonly at: number;
  readonly state: NodeState;
}

export interface TrafficResult {
  readonly records: RequestRecord[];
  /** Each node's states while the load ran, by instance id: each change, in order. */
  readonly nodeStates: Readonly<Record<string, readonly NodeStateChange[]>>;
  /** Date.now() when the load started; request records count from there. */
  readonly loadStartedAt: number;
  readonly weightChanges: readonly WeightChange[];
  /** Target groups serving with a healthy target when the load started, and the fewest seen since. */
  readonly baselineServing: number;
  readonly minServing: number;
}

export type TargetDescription = RegisteredTarget & { state: string; reason?: string };

/** The calls the data plane answers, by name: arguments and result. */
export interface DataPlaneCalls {
  setNodes(nodes: readonly (readonly [string, string])[]): void;
  forceUnhealthy(instanceId: string): void;
  deregistered(targetGroupArn: string, targets: readonly RegisteredTarget[]): void;
  describeTargets(targetGroupArn: string, targets: readonly RegisteredTarget[]): TargetDescription[];
  targetStates(targets: readonly RegisteredTarget[]): string[];
  refreshWeights(): void;
  startTraffic(spec: TrafficSpec): { entryUrl: string; loadStartedAt: number; baselineServing: number };
  stopTraffic(): TrafficResult;
  close(): void;
}

export type DataPlaneRequest = {
  [K in keyof DataPlaneCalls]: { id: number; call: K; args: Parameters<DataPlaneCalls[K]> };
}[keyof DataPlaneCalls];

export type DataPlaneMessage =
  | { kind: 'reply'; id: number; result?: unknown; error?: string }
  | { kind: 'view'; view: DataPlaneView };

const WORKER_ENTRY = path.join(__dirname, 'data-plane-worker');
const EMPTY_VIEW: DataPlaneView = { weights: [], servingHealthy: 0, ok: 0, failed: 0, dns: null };

export class DataPlane {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private latest: DataPlaneView = EMPTY_VIEW;
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: DataPlaneMessage) => {
      if (message.kind === 'view') {
        this.latest = message.view;
        return;
      }
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(`The sandbox's data plane: ${message.error}`));
      else waiting?.resolve(message.result);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => fail(new Error(`The sandbox's data plane failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`The sandbox's data plane stopped (exit code ${code})`)));
  }

  static start(config: DataPlaneConfig): DataPlane {
    // The sandbox runs from TypeScript sources through tsx, whose loader a worker does not inherit: the worker
    // registers it before it loads its entry. Built JavaScript loads as it is.
    const typescript = __filename.endsWith('.ts');
    const worker = typescript
      ? new Worker(
          `require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register();` +
            `require(${JSON.stringify(`${WORKER_ENTRY}.ts`)});`,
          { eval: true, workerData: config },
        )
      : new Worker(`${WORKER_ENTRY}.js`, { workerData: config });
    return new DataPlane(worker);
  }

  call<K extends keyof DataPlaneCalls>(
    call: K,
    ...args: Parameters<DataPlaneCalls[K]>
  ): Promise<ReturnType<DataPlaneCalls[K]>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, call, args } as DataPlaneRequest);
    });
  }

  /** The latest view the data plane sent (every 100 ms once traffic runs). */
  view(): DataPlaneView {
    return this.latest;
  }

  async close(): Promise<void> {
    await this.call('close').catch(() => undefined);
    await this.worker.terminate();
  }
}
