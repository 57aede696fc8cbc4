import { loadClusterModel } from '../functions/aws/ssm';
import { recheckFailover } from '../functions/operations/recheck-failover';
import {
  AlarmEvaluator,
  alarmRoutesOf,
  alarmStateChangeEvent,
  matchesPattern,
  nodeAlarmsOf,
  recheckScheduleOf,
  transformInput,
} from './alarms';
import type { SandboxCluster } from './cluster';
import { deadlineAfterPendingIo } from './deadline';
import type { SandboxEnvironment } from './environment';
import type { RunContext } from './run-context';
import type { WorkflowStart } from './workflow-runs';

/**
 * Node loss is detected as deployed: the stack's heartbeat alarms, evaluated against the nodes, and the rules that
 * start failover when an alarm's state changes (alarms.ts holds the evaluator and the rule matching).
 */

export interface AlarmRouting {
  /** The best the alarms allow, in scenario seconds: the longest period × datapoints to alarm. */
  readonly detectionFloorSeconds: number;
  /** How long after a node died its alarm may still fire, in real milliseconds: the floor and one more period. */
  readonly detectionWindowMs: number;
  /** No alarm firing and no heartbeat missing: nothing more will start. */
  quiet(): boolean;
  stop(): void;
}

export interface AlarmRoutingOptions {
  readonly run: RunContext;
  readonly environment: SandboxEnvironment;
  readonly cluster: SandboxCluster;
  /** A node alarm fired, at this time (Date.now()). */
  readonly detected: (at: number) => void;
  /** Starts the workflow of a rule that matched the alarm's event, with the rule's input. */
  readonly startWorkflow: (step: WorkflowStart) => void;
  /** Starts a failover the re-check of alarms that stay in ALARM asked for. */
  readonly startRecheck: (step: WorkflowStart) => void;
  /** Whether a failover runs now: the re-check starts none while one does. */
  readonly failoverRunning: () => boolean;
  /** Nodes whose heartbeat publisher stopped (a `stop-heartbeat` fault): they serve, but beat no more. */
  readonly silenced: ReadonlySet<string>;
}

/**
 * How long a node's heartbeat check waits, as the node's agent checks its own server before it publishes the beat:
 * real time, not scaled. A beat that is late is still a beat; only a node that does not answer misses one.
 */
const HEARTBEAT_TIMEOUT_MS = 5_000;

/** Starts evaluating the node alarms; they stop with the environment, or before when the run stops them. */
export async function startAlarmRouting(options: AlarmRoutingOptions): Promise<AlarmRouting> {
  const { run, environment, cluster } = options;
  const { stack } = cluster;
  const alarms = nodeAlarmsOf(stack);
  const routes = alarmRoutesOf(stack);
  const evaluator = new AlarmEvaluator({
    alarms,
    cloudwatch: environment.cloudwatch,
    scaled: run.scaled,
    heartbeat: (slot) => heartbeat(slot, environment, cluster, options.silenced),
    onAlarm: (alarm, at) => {
      run.log(`alarm ${alarm.alarmName} → ALARM`);
      options.detected(at.getTime());
      const event = alarmStateChangeEvent(alarm, 'ALARM', at, stack.env.region, stack.env.account);
      for (const route of routes.filter((candidate) => matchesPattern(candidate.pattern, event))) {
        if (route.workflow) {
          options.startWorkflow({
            start: route.workflow,
            input: transformInput(route, event) as Record<string, unknown>,
          });
        }
      }
    },
  });
  environment.defer(() => evaluator.stop());
  await evaluator.start();
  const stopRecheck = startRecheck(options);
  environment.defer(stopRecheck);
  const detectionFloorSeconds = Math.max(0, ...alarms.map((alarm) => alarm.periodSeconds * alarm.datapointsToAlarm));
  return {
    detectionFloorSeconds,
    detectionWindowMs: run.scaled(detectionFloorSeconds + Math.max(0, ...alarms.map((a) => a.periodSeconds))),
    quiet: () => evaluator.quiet(),
    stop: () => {
      evaluator.stop();
      stopRecheck();
    },
  };
}

/**
 * The stack's schedule that starts failover again for an alarm that stays in ALARM, run on the sandbox's clock with
 * the real re-check against the alarms in moto; the failovers it asks for start on the local runner.
 */
function startRecheck(options: AlarmRoutingOptions): () => void {
  const { run, environment, cluster } = options;
  const schedule = recheckScheduleOf(cluster.stack);
  if (!schedule) return () => undefined;
  const failover = {
    running: async () => options.failoverRunning(),
    start: async (_name: string, input: unknown) => {
      run.log(`re-check: alarm still in ALARM → failover ${JSON.stringify(input)}`);
      options.startRecheck({ start: 'failover', input: input as Record<string, unknown> });
      return true;
    },
  };
  let checking = false;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    void recheckFailover({ cloudwatch: environment.cloudwatch }, failover, {
      cluster: cluster.name,
      slots: schedule.slots,
    })
      .catch((error: unknown) => run.log(`re-check failed: ${String(error)}`))
      .finally(() => {
        checking = false;
      });
  }, run.scaled(schedule.intervalSeconds));
  return () => clearInterval(timer);
}

/**
 * Whether the node that now holds the slot (a failover may have replaced it) answers its own health check, as its
 * agent publishes the beat only then; a node whose publisher was stopped sends none however well it serves.
 */
async function heartbeat(
  slot: string,
  environment: SandboxEnvironment,
  cluster: SandboxCluster,
  silenced: ReadonlySet<string>,
): Promise<boolean> {
  const current = await loadClusterModel(environment.ssm, cluster.name).catch(() => cluster.model);
  const holder = current.nodes.find((node) => node.slot === slot);
  if (holder && silenced.has(holder.instanceId)) return false;
  const url = holder ? environment.fleet.nodes.get(holder.instanceId)?.url : undefined;
  if (!url) return false;
  return probeHealth(`${url}/health`, HEARTBEAT_TIMEOUT_MS);
}

/** Whether the URL answers 200 within the time, judged only after pending answers were read (see deadline.ts). */
async function probeHealth(url: string, timeoutMs: number): Promise<boolean> {
  const controller = new AbortController();
  const cancel = deadlineAfterPendingIo(timeoutMs, () => controller.abort());
  try {
    const answer = await fetch(url, { signal: controller.signal });
    await answer.arrayBuffer();
    return answer.ok;
  } catch {
    return false;
  } finally {
    cancel();
  }
}
