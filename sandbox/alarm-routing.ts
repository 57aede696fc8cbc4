import { loadClusterModel } from '../functions/aws/ssm';
import {
  AlarmEvaluator,
  alarmRoutesOf,
  alarmStateChangeEvent,
  matchesPattern,
  nodeAlarmsOf,
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
    heartbeat: (slot) => heartbeat(slot, environment, cluster),
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
  const detectionFloorSeconds = Math.max(0, ...alarms.map((alarm) => alarm.periodSeconds * alarm.datapointsToAlarm));
  return {
    detectionFloorSeconds,
    detectionWindowMs: run.scaled(detectionFloorSeconds + Math.max(0, ...alarms.map((a) => a.periodSeconds))),
    quiet: () => evaluator.quiet(),
    stop: () => evaluator.stop(),
  };
}

/** Whether the node that now holds the slot (a failover may have replaced it) answers its own health check. */
async function heartbeat(slot: string, environment: SandboxEnvironment, cluster: SandboxCluster): Promise<boolean> {
  const current = await loadClusterModel(environment.ssm, cluster.name).catch(() => cluster.model);
  const holder = current.nodes.find((node) => node.slot === slot);
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
