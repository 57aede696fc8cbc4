import { recheckFailover } from '../functions/operations/recheck-failover';
import { HEARTBEAT_PERIOD_SECONDS } from '../kits/node/node-kit';
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
import type { SandboxEnvironment } from './environment';
import { heartbeatPublishers } from './heartbeat';
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

/** Starts evaluating the node alarms; they stop with the environment, or before when the run stops them. */
export async function startAlarmRouting(options: AlarmRoutingOptions): Promise<AlarmRouting> {
  const { run, environment, cluster } = options;
  const { stack } = cluster;
  const alarms = nodeAlarmsOf(stack);
  const routes = alarmRoutesOf(stack);
  const lastFailure = new Map<string, string>();
  const publishers = heartbeatPublishers({
    fleet: environment.fleet,
    log: environment.beats,
    model: cluster.model,
    workDir: environment.workDir,
    endpoint: environment.gateway.endpoint,
    silenced: options.silenced,
    onFailure: (instanceId, output) => {
      // A node that is down fails every beat alike: say so once, and again only when the reason changes.
      if (lastFailure.get(instanceId) === output) return;
      lastFailure.set(instanceId, output);
      run.log(`heartbeat of ${instanceId} not sent: ${output}`);
    },
  });
  environment.defer(publishers.stop);
  const evaluator = new AlarmEvaluator({
    alarms,
    cloudwatch: environment.cloudwatch,
    scaled: run.scaled,
    beats: environment.beats,
    heartbeat: { periodSeconds: HEARTBEAT_PERIOD_SECONDS, beat: publishers.beat },
    onAlarm: (alarm, at) => {
      run.note('alarm', `alarm ${alarm.alarmName} → ALARM`);
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
