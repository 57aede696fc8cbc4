import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { METRICS_NAMESPACE } from '../../functions/domain/metric-names';
import { nodeAlarmName, RECHECK_INTERVAL_MINUTES, type SlotAlarm } from '../../functions/domain/recheck';
import { allow } from './launch-permissions';
import { ZeroDownFunction } from './zerodown-function';

/** Where nodes publish their heartbeat: one datapoint per period while the node's own health check passes. */
export const HEARTBEAT_NAMESPACE = METRICS_NAMESPACE;
export const HEARTBEAT_METRIC = 'NodeHeartbeat';

export interface HeartbeatSettings {
  /** Seconds per datapoint: 10 or 30 (high resolution) or a multiple of 60. */
  readonly periodSeconds: number;
  /** Missing or failed datapoints in a row before the alarm fires. */
  readonly datapointsToAlarm: number;
}

/**
 * The default detection: 2 missed 10-second heartbeats, so a dead node is declared lost 20 s after its last beat
 * (plus up to one period of CloudWatch evaluation delay). One missed beat is not enough: a node pausing for a full
 * garbage collection would flip traffic. Cost per node and month: a high-resolution alarm ($0.30), one custom metric
 * ($0.30) and 259,200 PutMetricData calls ($2.59) at us-east-1 prices.
 *
 * The alternatives are slower: ALB target health metrics arrive at 1-minute resolution (60–120 s); EC2 status checks
 * are evaluated every minute and miss a hung JVM on a healthy instance.
 */
export const DEFAULT_HEARTBEAT: HeartbeatSettings = { periodSeconds: 10, datapointsToAlarm: 2 };

/** The time from a node's death to its alarm firing, as the settings allow at best. */
export function detectionFloorSeconds(settings: HeartbeatSettings): number {
  return settings.periodSeconds * settings.datapointsToAlarm;
}

export interface NodeAlarmsProps {
  readonly model: ClusterModel;
  readonly failover: sfn.IStateMachine;
  /** @default DEFAULT_HEARTBEAT */
  readonly heartbeat?: HeartbeatSettings;
  /** Where EventBridge puts an alarm event or a re-check it could not deliver. */
  readonly deadLetters: sqs.IQueue;
  /** @default - as ZeroDownFunction */
  readonly logRetention?: logs.RetentionDays;
  /** @default - as ZeroDownFunction */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** @default - as ZeroDownFunction */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * One alarm per permanent node's slot, on the heartbeat the node in that slot publishes (dimensions `Cluster` and
 * `Slot`, so a replacement node takes over its slot's alarm), with missing data treated as breaching: a dead node
 * sends nothing. Each alarm's move to ALARM starts the `failover` workflow through an EventBridge rule, with the
 * cluster, the slot and the time CloudWatch detected the loss.
 */
export class NodeAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[];
  /** The same alarms, by the slot they watch. */
  public readonly bySlot: Readonly<Record<string, cloudwatch.Alarm>>;
  /**
   * Starts failover again every minute for each slot whose alarm stays in ALARM (see domain/recheck.ts); none when
   * the cluster has no slots to fail over.
   */
  public readonly recheck?: lambda.IFunction;

  constructor(scope: Construct, id: string, props: NodeAlarmsProps) {
    super(scope, id);
    const { model } = props;
    const heartbeat = props.heartbeat ?? DEFAULT_HEARTBEAT;
    const slots = model.nodes.flatMap((node) => (node.slot === undefined ? [] : [node.slot]));
    this.alarms = slots.map((slot) => {
      const alarm = new cloudwatch.Alarm(this, `Lost-${slot}`, {
        alarmName: nodeAlarmName(model.name, slot),
        alarmDescription: `zerodown ${model.name}: the node in slot ${slot} stopped sending its heartbeat`,
        metric: new cloudwatch.Metric({
          namespace: HEARTBEAT_NAMESPACE,
          metricName: HEARTBEAT_METRIC,
          dimensionsMap: { Cluster: model.name, Slot: slot },
          statistic: cloudwatch.Stats.SAMPLE_COUNT,
          period: Duration.seconds(heartbeat.periodSeconds),
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: heartbeat.datapointsToAlarm,
        datapointsToAlarm: heartbeat.datapointsToAlarm,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      new events.Rule(this, `Failover-${slot}`, {
        description: `zerodown ${model.name}: start failover when the node in slot ${slot} is lost`,
        eventPattern: {
          source: ['aws.cloudwatch'],
          detailType: ['CloudWatch Alarm State Change'],
          resources: [alarm.alarmArn],
          detail: { state: { value: ['ALARM'] } },
        },
        targets: [
          new targets.SfnStateMachine(props.failover, {
            input: events.RuleTargetInput.fromObject({
              cluster: model.name,
              slot,
              alarmName: events.EventField.fromPath('$.detail.alarmName'),
              detectedAt: events.EventField.time,
            }),
            retryAttempts: 10,
            maxEventAge: Duration.minutes(15),
            deadLetterQueue: props.deadLetters,
          }),
        ],
      });
      return alarm;
    });
    this.bySlot = Object.fromEntries(slots.map((slot, index) => [slot, this.alarms[index] as cloudwatch.Alarm]));
    if (slots.length > 0) this.recheck = this.recheckFunction(props, slots);
  }

  /**
   * The re-check: an alarm starts failover only on its change into ALARM, so one that stays there (after a failed or
   * skipped failover, or a node that never sent a heartbeat) is looked at again every minute.
   */
  private recheckFunction(props: NodeAlarmsProps, slots: string[]): lambda.IFunction {
    const { model } = props;
    const nodeAlarms: SlotAlarm[] = slots.map((slot) => ({ slot, alarmName: nodeAlarmName(model.name, slot) }));
    const fn = new ZeroDownFunction(this, 'Recheck', {
      entry: 'functions/recheck-failover.ts',
      description: `zerodown ${model.name}: start failover again for a node alarm that stays in ALARM`,
      environment: {
        CLUSTER_NAME: model.name,
        FAILOVER_STATE_MACHINE_ARN: props.failover.stateMachineArn,
        NODE_ALARMS: JSON.stringify(nodeAlarms),
      },
      logRetention: props.logRetention,
      ...(props.logLevel ? { logLevel: props.logLevel } : {}),
      removalPolicy: props.removalPolicy,
    }).function;
    allow(
      fn,
      ['cloudwatch:DescribeAlarms'],
      this.alarms.map((alarm) => alarm.alarmArn),
    );
    allow(fn, ['states:ListExecutions'], [props.failover.stateMachineArn]);
    props.failover.grantStartExecution(fn);
    new events.Rule(this, 'RecheckSchedule', {
      description: `zerodown ${model.name}: re-check the node alarms that stay in ALARM`,
      schedule: events.Schedule.rate(Duration.minutes(RECHECK_INTERVAL_MINUTES)),
      targets: [
        new targets.LambdaFunction(fn, {
          event: events.RuleTargetInput.fromObject({ cluster: model.name }),
          retryAttempts: 2,
          maxEventAge: Duration.minutes(2),
          deadLetterQueue: props.deadLetters,
        }),
      ],
    });
    return fn;
  }
}
