import type { ClusterModel } from '../functions/domain/cluster-model';
import { type AlarmRouting, startAlarmRouting } from './alarm-routing';
import { bootNodes, buildSandboxCluster, type SandboxCluster } from './cluster';
import type { DataPlane, DataPlaneConfig, TrafficSpec } from './data-plane';
import { type SandboxEnvironment, startSandboxEnvironment } from './environment';
import { FaultInjector } from './faults';
import { readFinalState } from './final-state';
import { type PeerWatch, startPeerWatch } from './peer-watch';
import { buildReport, type ExecutionReport, type SandboxReport } from './report';
import { type RunContext, sleepUntil, startRun } from './run-context';
import type { Scenario } from './scenario';
import { SandboxStepFunctions } from './step-functions-api';
import { FailoverTimeline } from './timeline';
import { prepareWorkflows, WorkflowRuns } from './workflow-runs';

/**
 * Runs a scenario in the sandbox: moto behind the gateway, a node process per instance, real health checks, the
 * load balancer's data plane and steady load, and the synthesized state machines executed locally with the real
 * handlers. Everything it starts, it stops, also when the run fails or is interrupted through `signal`.
 */

export interface RunOptions {
  /** Called with a line of progress as the run goes. */
  readonly onProgress?: (line: string) => void;
  /** Aborting stops the run and cleans up. */
  readonly signal?: AbortSignal;
  /** Where the run's scratch directory (node data, logs, the cloud assembly) is made; it is removed at the end. */
  readonly workDir?: string;
}

const SAMPLE_INTERVAL_MS = 100;
/**
 * The least time a health check waits for a node. Health-check intervals shrink with the time scale, but how fast a
 * process answers does not: on a busy machine a healthy node can take a second to be scheduled. A dead node refuses
 * at once, so the floor delays nothing but the verdict on a node that hangs.
 */
const HEALTH_CHECK_TIMEOUT_FLOOR_MS = 2_000;
/** Longer than the load balancer's own 60 s limit, so the client sees the load balancer's verdict. */
const CLIENT_TIMEOUT_MS = 70_000;
const LOAD_TAIL_MS = 1_000;
/** Route 53 answers for an alias record to a load balancer with a 60-second TTL. */
const ALIAS_TTL_SECONDS = 60;

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<SandboxReport> {
  const run = startRun(scenario, options);
  await using environment = await startSandboxEnvironment(run, options.workDir);
  try {
    const { cluster, plane, loadStartedAt, workflows, timeline, alarms, faults } = await startLiveSandbox(
      run,
      environment,
    );
    await playTimedSteps(run, loadStartedAt, workflows, faults);
    const executions = await settle(run, loadStartedAt, workflows, alarms, timeline);
    alarms.stop();
    await sleepUntil(Date.now() + LOAD_TAIL_MS, run.signal);
    const traffic = await plane.call('stopTraffic');
    const finalState = await readFinalState(environment, cluster, plane, traffic);

    return buildReport({
      scenario,
      started: run.started,
      executions,
      traffic,
      slotOf: cluster.slotOf,
      failover: timeline.report({
        detectionFloorSeconds: alarms.detectionFloorSeconds,
        timeScale: scenario.timeScale,
        traffic,
      }),
      finalState,
      awsCalls: environment.gateway.calls,
      events: run.events,
      commands: environment.agent.commandWindows(),
    });
  } catch (error) {
    environment.runFailed();
    throw error;
  }
}

/** A sandbox with its cluster up and serving: nodes booted, load running, alarms routed to failover. */
interface LiveSandbox {
  readonly cluster: SandboxCluster;
  readonly plane: DataPlane;
  readonly loadStartedAt: number;
  readonly workflows: WorkflowRuns;
  readonly timeline: FailoverTimeline;
  readonly alarms: AlarmRouting;
  readonly faults: FaultInjector;
  readonly peerWatch: PeerWatch;
}

async function startLiveSandbox(run: RunContext, environment: SandboxEnvironment): Promise<LiveSandbox> {
  const cluster = await buildSandboxCluster(run, environment);
  const plane = await environment.startDataPlane(cluster.targetGroupArns, healthChecks(run, cluster.model));
  await bootNodes(run, environment, plane, cluster);
  prepareWorkflows(cluster);
  const { loadStartedAt, baselineServing } = await plane.call('startTraffic', trafficSpec(run, cluster));

  const workflows = new WorkflowRuns(run, cluster, plane, baselineServing);
  const timeline = new FailoverTimeline();
  const silenced = new Set<string>();
  const followed = {
    onState: (state: string) => timeline.alarmWorkflowEntered(state),
    onEnd: (report: ExecutionReport) => timeline.alarmWorkflowEnded(report),
  };
  const alarms = await startAlarmRouting({
    run,
    environment,
    cluster,
    silenced,
    detected: (at) => timeline.detected(at, 'alarm'),
    startWorkflow: (step) => workflows.start(step, 'alarm', followed),
    startRecheck: (step) => {
      timeline.detected(Date.now(), 'recheck');
      workflows.start(step, 'recheck', followed);
    },
    failoverRunning: () => workflows.running('failover'),
  });
  // The Step Functions API answers the CLI (`serve`) and the nodes' peer watch: a failover a peer starts is followed
  // as the alarms' are, and counts as the loss's detection.
  const api = new SandboxStepFunctions(
    cluster.name,
    { primary: cluster.stack, dr: cluster.drStack },
    (workflow, executionName, input) => {
      if (workflow === 'failover' && input.trigger === 'peer') {
        timeline.detected(Date.now(), 'peer');
        workflows.start({ start: workflow, input, executionName }, 'peer', followed);
      } else {
        workflows.start({ start: workflow, input, executionName }, 'api', {
          onState: (state, stop) => faults.stateEntered(state, stop),
        });
      }
    },
  );
  workflows.api = api;
  environment.serveStepFunctions(api);
  const peerWatch = startPeerWatch({
    fleet: environment.fleet,
    model: cluster.model,
    workDir: environment.workDir,
    endpoint: environment.gateway.endpoint,
    failoverStateMachineArn: api.stateMachineArnOf('failover'),
    scaled: run.scaled,
    log: run.log,
  });
  environment.defer(peerWatch.stop);
  const faults = new FaultInjector(run.scenario.steps, {
    model: cluster.model,
    fleet: environment.fleet,
    agent: environment.agent,
    plane,
    log: run.log,
    faultStruck: (line, instanceId) => run.note('fault', line, instanceId),
    nodeKilled: (instanceId) => timeline.died(Date.now(), targetGroupOf(instanceId, cluster)),
    heartbeatStopped: (instanceId) => silenced.add(instanceId),
    peerWatchStopped: (instanceId) => peerWatch.stopOn(instanceId),
    partitioned: () => timeline.disturbed(Date.now()),
  });
  return { cluster, plane, loadStartedAt, workflows, timeline, alarms, faults, peerWatch };
}

export interface ServeOptions extends RunOptions {
  /** Called once the sandbox answers on its endpoint (the gateway: AWS calls and the Step Functions API). */
  readonly onReady?: (endpoint: string, cluster: string) => void;
}

/**
 * Keeps a sandbox up until `signal` stops it, behind one endpoint that answers every AWS call the CLI makes, the
 * Step Functions API included: `zerodown --endpoint <endpoint>` drives it as it drives AWS. The scenario gives the
 * cluster, the load and its faults; its workflow steps are left to whoever calls the API.
 */
export async function serveSandbox(scenario: Scenario, options: ServeOptions = {}): Promise<void> {
  const run = startRun(scenario, options);
  await using environment = await startSandboxEnvironment(run, options.workDir);
  try {
    const live = await startLiveSandbox(run, environment);
    const { cluster, workflows, faults } = live;
    options.onReady?.(environment.gateway.endpoint, cluster.name);
    const faultSteps = run.scenario.steps.filter((step) => !('start' in step));
    await Promise.all([
      playFaults(run, live.loadStartedAt, faultSteps, faults),
      new Promise<void>((resolve) => {
        if (run.signal?.aborted) resolve();
        run.signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
    ]);
    live.alarms.stop();
    await live.plane.call('stopTraffic');
    await workflows.ended();
  } catch (error) {
    if (!run.signal?.aborted) environment.runFailed();
    throw error;
  }
}

/** The scenario's timed faults, each when its time comes; stops early when the sandbox is stopped. */
async function playFaults(
  run: RunContext,
  loadStartedAt: number,
  steps: Scenario['steps'],
  faults: FaultInjector,
): Promise<void> {
  for (const step of steps
    .filter((candidate) => candidate.at !== undefined)
    .sort((a, b) => (a.at ?? 0) - (b.at ?? 0))) {
    try {
      await sleepUntil(loadStartedAt + run.scaled(step.at ?? 0), run.signal);
    } catch {
      return;
    }
    if (!('start' in step)) faults.apply(step);
  }
}

function healthChecks(run: RunContext, model: ClusterModel): DataPlaneConfig['health'] {
  const { healthCheck } = run.scenario.cluster;
  return {
    intervalMs: run.scaled(healthCheck.intervalSeconds),
    // The scenario's timeout is the network's and the node's time to answer, which do not shrink with the time
    // scale: scaled down, a node answering at its normal speed on a busy machine would fail its checks.
    timeoutMs: Math.max(run.scaled(healthCheck.timeoutSeconds), HEALTH_CHECK_TIMEOUT_FLOOR_MS),
    healthyThreshold: healthCheck.healthyThreshold,
    unhealthyThreshold: healthCheck.unhealthyThreshold,
    deregistrationDelayMs: run.scaled(model.capacity.drainSeconds),
    path: '/health',
  };
}

/** Clients reach the primary's listener; with a DR site, they reach the cluster by its DNS name. */
function trafficSpec(run: RunContext, { model, drSite }: SandboxCluster): TrafficSpec {
  const { load } = run.scenario;
  const { idleTimeoutSeconds } = run.scenario.loadBalancer;
  return {
    listenerArn: model.traffic.listenerArn,
    propagationMs: run.scaled(run.scenario.loadBalancer.propagationSeconds),
    // Like the health checks' timeout, never below what a busy machine may take to answer.
    ...(idleTimeoutSeconds === undefined
      ? {}
      : { targetTimeoutMs: Math.max(run.scaled(idleTimeoutSeconds), HEALTH_CHECK_TIMEOUT_FLOOR_MS) }),
    ...(drSite
      ? {
          dr: {
            listenerArn: drSite.listenerArn,
            hostedZoneId: drSite.hostedZoneId,
            recordName: drSite.model.dr?.recordName ?? '',
            primaryDnsName: drSite.primaryDnsName,
            drDnsName: drSite.drDnsName,
            ttlMs: run.scaled(ALIAS_TTL_SECONDS),
          },
        }
      : {}),
    load: {
      requestsPerSecond: load.requestsPerSecond,
      maxDurationMs: load.maxDurationSeconds * 1000,
      timeoutMs: CLIENT_TIMEOUT_MS,
      serverTimeMs: load.serverTimeMs,
    },
  };
}

/** The primary's target group of the slot the instance holds. */
function targetGroupOf(instanceId: string, { model, targetGroups }: SandboxCluster): string | undefined {
  const slot = model.nodes.find((node) => node.instanceId === instanceId)?.slot;
  return slot ? targetGroups[slot] : undefined;
}

/** Each step with a time, when its time comes (in scenario seconds since the load started): a workflow or a fault. */
async function playTimedSteps(
  run: RunContext,
  loadStartedAt: number,
  workflows: WorkflowRuns,
  faults: FaultInjector,
): Promise<void> {
  const timed = run.scenario.steps.filter((step) => step.at !== undefined);
  for (const step of timed.sort((a, b) => (a.at ?? 0) - (b.at ?? 0))) {
    await sleepUntil(loadStartedAt + run.scaled(step.at ?? 0), run.signal);
    if ('start' in step) {
      workflows.start(step, 'scenario', { onState: (state, stop) => faults.stateEntered(state, stop) });
    } else faults.apply(step);
  }
}

/**
 * Waits for the workflows to end and returns their reports. Workflows the alarms start join the list as the run goes;
 * the run ends once nothing is left to start (no alarm firing, the last death long enough ago for its alarm to have
 * fired), or when the load's time is up.
 */
async function settle(
  run: RunContext,
  loadStartedAt: number,
  workflows: WorkflowRuns,
  alarms: AlarmRouting,
  timeline: FailoverTimeline,
): Promise<ExecutionReport[]> {
  const settleDeadline = loadStartedAt + run.scenario.load.maxDurationSeconds * 1000;
  for (;;) {
    const { reports, noneStarted } = await workflows.ended();
    const settled =
      noneStarted && alarms.quiet() && Date.now() - (timeline.lastDisturbanceAt ?? 0) > alarms.detectionWindowMs;
    if (settled || Date.now() > settleDeadline) return reports;
    await sleepUntil(Date.now() + SAMPLE_INTERVAL_MS, run.signal);
  }
}
