import type { ClusterModel } from '../functions/domain/cluster-model';
import { type AlarmRouting, startAlarmRouting } from './alarm-routing';
import { bootNodes, buildSandboxCluster, type SandboxCluster } from './cluster';
import type { DataPlaneConfig, TrafficSpec } from './data-plane';
import { startSandboxEnvironment } from './environment';
import { FaultInjector } from './faults';
import { readFinalState } from './final-state';
import { buildReport, type ExecutionReport, type SandboxReport } from './report';
import { type RunContext, sleepUntil, startRun } from './run-context';
import type { Scenario } from './scenario';
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
      detected: (at) => timeline.detected(at),
      startWorkflow: (step) => workflows.start(step, 'alarm', followed),
      startRecheck: (step) => {
        timeline.detected(Date.now());
        workflows.start(step, 'recheck', followed);
      },
      failoverRunning: () => workflows.running('failover'),
    });
    const faults = new FaultInjector(scenario.steps, {
      model: cluster.model,
      fleet: environment.fleet,
      agent: environment.agent,
      plane,
      log: run.log,
      nodeKilled: (instanceId) => timeline.died(Date.now(), targetGroupOf(instanceId, cluster)),
      heartbeatStopped: (instanceId) => silenced.add(instanceId),
    });
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
    });
  } catch (error) {
    environment.runFailed();
    throw error;
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
  return {
    listenerArn: model.traffic.listenerArn,
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
      noneStarted && alarms.quiet() && Date.now() - (timeline.lastDeathAt ?? 0) > alarms.detectionWindowMs;
    if (settled || Date.now() > settleDeadline) return reports;
    await sleepUntil(Date.now() + SAMPLE_INTERVAL_MS, run.signal);
  }
}
