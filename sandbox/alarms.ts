import { type CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { SlotAlarm } from '../functions/domain/recheck';
import { isWorkflowName, WORKFLOW_METADATA_KEY, type WorkflowName } from '../functions/domain/workflows';
import type { SynthesizedStack } from '../local/synth';
import { resolveIntrinsics, resourcesOfType } from '../local/template';
import type { BeatLog } from './heartbeat';

/**
 * The deployed detection path, run locally: the node alarms and the EventBridge rules are read from the synthesized
 * stack, an evaluator turns missed heartbeats into alarm states (in moto too, so DescribeAlarms agrees), and a router
 * matches the resulting "CloudWatch Alarm State Change" event against each rule's pattern and starts the rule's
 * state machine with the rule's input transformer applied.
 */

export interface NodeAlarm {
  readonly alarmName: string;
  readonly alarmArn: string;
  readonly slot: string;
  readonly periodSeconds: number;
  readonly datapointsToAlarm: number;
}

export interface AlarmRoute {
  readonly pattern: Record<string, unknown>;
  readonly stateMachineArn: string;
  /** The workflow of the target state machine, from the metadata its construct writes. */
  readonly workflow: WorkflowName | undefined;
  readonly inputPathsMap: Record<string, string>;
  readonly inputTemplate: string;
}

type Json = Parameters<typeof resolveIntrinsics>[2];

export function nodeAlarmsOf(stack: SynthesizedStack): NodeAlarm[] {
  return resourcesOfType(stack.template, 'AWS::CloudWatch::Alarm').flatMap(([logicalId, resource]) => {
    const properties = resource.Properties ?? {};
    const dimensions = (properties.Dimensions ?? []) as { Name: string; Value: string }[];
    const slot = dimensions.find((dimension) => dimension.Name === 'Slot')?.Value;
    if (slot === undefined) return [];
    return [
      {
        alarmName: String(properties.AlarmName),
        alarmArn: String(resolveIntrinsics(stack.template, stack.env, { 'Fn::GetAtt': [logicalId, 'Arn'] })),
        slot,
        periodSeconds: Number(properties.Period),
        datapointsToAlarm: Number(properties.DatapointsToAlarm ?? properties.EvaluationPeriods),
      },
    ];
  });
}

/** The schedule that re-checks the node alarms, as the stack deploys it: how often, and which alarm is whose slot. */
export interface RecheckSchedule {
  readonly intervalSeconds: number;
  readonly slots: SlotAlarm[];
}

export function recheckScheduleOf(stack: SynthesizedStack): RecheckSchedule | undefined {
  for (const [, rule] of resourcesOfType(stack.template, 'AWS::Events::Rule')) {
    const expression = rule.Properties?.ScheduleExpression;
    const rate = typeof expression === 'string' ? /^rate\((\d+) minutes?\)$/.exec(expression) : null;
    if (!rate) continue;
    for (const target of (rule.Properties?.Targets ?? []) as { Arn?: { 'Fn::GetAtt'?: [string, string] } }[]) {
      const functionId = target.Arn?.['Fn::GetAtt']?.[0];
      const environment = functionId
        ? (stack.template.Resources[functionId]?.Properties?.Environment as { Variables?: Record<string, string> })
        : undefined;
      const slots = environment?.Variables?.NODE_ALARMS;
      if (slots) return { intervalSeconds: Number(rate[1]) * 60, slots: JSON.parse(slots) as SlotAlarm[] };
    }
  }
  return undefined;
}

export function alarmRoutesOf(stack: SynthesizedStack): AlarmRoute[] {
  return resourcesOfType(stack.template, 'AWS::Events::Rule').flatMap(([, resource]) => {
    const workflowOf = (target: unknown) => {
      const logicalId = (target as { Arn?: { Ref?: string } }).Arn?.Ref;
      const metadata = logicalId ? stack.template.Resources[logicalId]?.Metadata?.[WORKFLOW_METADATA_KEY] : undefined;
      return typeof metadata === 'string' && isWorkflowName(metadata) ? metadata : undefined;
    };
    const targets = (resource.Properties?.Targets ?? []) as unknown[];
    const properties = (resolveIntrinsics(stack.template, stack.env, (resource.Properties ?? {}) as Json) ?? {}) as {
      EventPattern?: Record<string, unknown>;
      Targets?: { Arn: string; InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string } }[];
    };
    // Only the targets that start a workflow: failover on a node alarm, recover on an execution that ended badly.
    return (properties.Targets ?? []).flatMap((target, index) =>
      properties.EventPattern && target.InputTransformer && workflowOf(targets[index])
        ? [
            {
              pattern: properties.EventPattern,
              stateMachineArn: target.Arn,
              workflow: workflowOf(targets[index]),
              inputPathsMap: target.InputTransformer.InputPathsMap ?? {},
              inputTemplate: target.InputTransformer.InputTemplate,
            },
          ]
        : [],
    );
  });
}

/** EventBridge's matching for the patterns we write: arrays list allowed values, objects nest. */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(event) ? event : [event];
    return values.some((value) => pattern.includes(value));
  }
  if (typeof pattern !== 'object' || pattern === null) return pattern === event;
  if (typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([key, inner]) =>
    matchesPattern(inner, (event as Record<string, unknown>)[key]),
  );
}

/** An input transformer: each `<name>` in the template becomes the JSON of the event value its path selects. */
export function transformInput(route: AlarmRoute, event: Record<string, unknown>): unknown {
  const text = route.inputTemplate.replace(/<([\w-]+)>/g, (placeholder, name: string) => {
    const path = route.inputPathsMap[name];
    if (path === undefined) return placeholder;
    const value = path
      .replace(/^\$\.?/, '')
      .split('.')
      .filter(Boolean)
      .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], event);
    return JSON.stringify(value ?? null);
  });
  return JSON.parse(text);
}

export function alarmStateChangeEvent(
  alarm: NodeAlarm,
  state: 'ALARM' | 'OK',
  at: Date,
  region: string,
  account: string,
) {
  return {
    version: '0',
    id: `${alarm.alarmName}-${at.getTime()}`,
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account,
    time: at.toISOString(),
    region,
    resources: [alarm.alarmArn],
    detail: { alarmName: alarm.alarmName, state: { value: state, reason: 'Heartbeat missing (sandbox evaluator)' } },
  };
}

export interface AlarmEvaluatorOptions {
  readonly alarms: readonly NodeAlarm[];
  readonly cloudwatch: CloudWatchClient;
  /** The heartbeats the nodes published, by the slot they were sent for. */
  readonly beats: Pick<BeatLog, 'received' | 'settle'>;
  /**
   * The nodes' heartbeat timers, driven from the evaluator's clock: every node starts a beat right after each
   * period boundary (the phase that detects a loss slowest, so no figure is flattered by a lucky phase).
   */
  readonly heartbeat: { readonly periodSeconds: number; readonly beat: () => void };
  /** Scenario seconds to real milliseconds. */
  readonly scaled: (seconds: number) => number;
  readonly onAlarm: (alarm: NodeAlarm, at: Date) => void;
}

/**
 * Evaluates each node alarm as CloudWatch would with missing data treated as breaching. The nodes' publishers beat
 * once a period; the period's datapoint is missing when no beat stamped inside it arrived, and CloudWatch judges a
 * period once it is over (here, once the beats started in it have finished, however slow the machine). So the alarm
 * fires `datapointsToAlarm` whole periods after the last beat, never sooner: a node that dies just after a beat is
 * declared lost between N and N+1 periods later. OK again on the next beat.
 */
export class AlarmEvaluator {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly missed = new Map<string, number>();
  private readonly states = new Map<string, 'OK' | 'ALARM'>();
  private readonly inFlight = new Set<string>();
  /** When the period now running began, by alarm. */
  private readonly periodStart = new Map<string, number>();
  /** Whether the last period judged had its beat, by alarm. */
  private readonly lastPeriodBeat = new Map<string, boolean>();

  constructor(private readonly options: AlarmEvaluatorOptions) {}

  async start(): Promise<void> {
    for (const alarm of this.options.alarms) {
      // moto holds the alarm too, so what the workflows and operators read agrees with the evaluator.
      await this.options.cloudwatch.send(
        new PutMetricAlarmCommand({
          AlarmName: alarm.alarmName,
          Namespace: 'ZeroDown',
          MetricName: 'NodeHeartbeat',
          Statistic: 'SampleCount',
          Period: alarm.periodSeconds,
          EvaluationPeriods: alarm.datapointsToAlarm,
          DatapointsToAlarm: alarm.datapointsToAlarm,
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          TreatMissingData: 'breaching',
        }),
      );
      this.states.set(alarm.alarmName, 'OK');
      this.periodStart.set(alarm.alarmName, Date.now());
      this.timers.push(setInterval(() => void this.evaluate(alarm), this.options.scaled(alarm.periodSeconds)));
    }
    // Timers due together run in the order they were set: each alarm closes its period before the beats start.
    const { heartbeat } = this.options;
    heartbeat.beat();
    this.timers.push(setInterval(heartbeat.beat, this.options.scaled(heartbeat.periodSeconds)));
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  /** No alarm firing and no heartbeat missing: nothing more will start. */
  quiet(): boolean {
    return (
      [...this.states.values()].every((state) => state === 'OK') &&
      [...this.missed.values()].every((n) => n === 0) &&
      [...this.lastPeriodBeat.values()].every(Boolean)
    );
  }

  private async evaluate(alarm: NodeAlarm): Promise<void> {
    if (this.inFlight.has(alarm.alarmName)) return;
    this.inFlight.add(alarm.alarmName);
    try {
      const from = this.periodStart.get(alarm.alarmName) ?? Date.now();
      const to = Date.now();
      this.periodStart.set(alarm.alarmName, to);
      await this.options.beats.settle(to);
      const beat = this.options.beats.received(alarm.slot, from, to);
      this.lastPeriodBeat.set(alarm.alarmName, beat);
      const missed = beat ? 0 : (this.missed.get(alarm.alarmName) ?? 0) + 1;
      this.missed.set(alarm.alarmName, missed);
      const state = this.states.get(alarm.alarmName);
      if (state === 'OK' && missed >= alarm.datapointsToAlarm) await this.transition(alarm, 'ALARM');
      if (state === 'ALARM' && beat) await this.transition(alarm, 'OK');
    } finally {
      this.inFlight.delete(alarm.alarmName);
    }
  }

  private async transition(alarm: NodeAlarm, state: 'OK' | 'ALARM'): Promise<void> {
    this.states.set(alarm.alarmName, state);
    const at = new Date();
    await this.options.cloudwatch
      .send(
        new SetAlarmStateCommand({
          AlarmName: alarm.alarmName,
          StateValue: state,
          StateReason: state === 'ALARM' ? 'Heartbeat missing' : 'Heartbeat back',
        }),
      )
      .catch(() => undefined);
    if (state === 'ALARM') this.options.onAlarm(alarm, at);
  }
}
