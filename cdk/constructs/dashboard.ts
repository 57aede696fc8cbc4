import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRIC_NAMES, METRICS_NAMESPACE, POWERTOOLS_SERVICE } from '../../functions/domain/metric-names';
import { HEARTBEAT_METRIC, HEARTBEAT_NAMESPACE } from './node-alarms';

export interface ClusterDashboardProps {
  readonly clusterName: string;
  /** The node alarms by slot: the state of failover's detection. */
  readonly nodeAlarms: Readonly<Record<string, cloudwatch.IAlarm>>;
  /** Alarms on zerodown's own failures: executions that fail, time out or are aborted, and undelivered events. */
  readonly ownFailures: readonly cloudwatch.IAlarm[];
  readonly stateMachines: Readonly<Record<string, sfn.StateMachine>>;
  /** The queues that keep events EventBridge could not deliver to a workflow. */
  readonly deadLetterQueues: readonly sqs.IQueue[];
  /** The traffic slots of the weighted strategy; none with one target group. */
  readonly slots: readonly string[];
}

/**
 * One page for the operator woken at 3 a.m.: whether failover can act (each slot's alarm and heartbeats), whether
 * zerodown itself failed, and what ran. A slot whose alarm is in ALARM while its node serves has a node that sends no
 * heartbeat: failover is re-checked every minute, but the heartbeat publisher needs fixing.
 */
export class ClusterDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ClusterDashboardProps) {
    super(scope, id);
    const slots = Object.keys(props.nodeAlarms);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `zerodown-${props.clusterName}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          `# zerodown ${props.clusterName}\n` +
          'A node alarm in ALARM means its slot sends no heartbeat. If that node still serves, its heartbeat ' +
          'publisher is down (a configuration fault): failover re-checks the slot every minute, but fix the publisher.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      slots.length > 0
        ? new cloudwatch.AlarmStatusWidget({
            title: 'Failover detection: node alarms',
            alarms: Object.values(props.nodeAlarms),
            width: 12,
            height: 4,
          })
        : new cloudwatch.TextWidget({
            markdown: 'One target group: the load balancer stops routing to a lost node, and no node alarms exist.',
            width: 12,
            height: 4,
          }),
      new cloudwatch.AlarmStatusWidget({
        title: "zerodown's own failures",
        alarms: [...props.ownFailures],
        width: 12,
        height: 4,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Heartbeats per slot (each period a node beats: 1)',
        left: slots.map(
          (slot) =>
            new cloudwatch.Metric({
              namespace: HEARTBEAT_NAMESPACE,
              metricName: HEARTBEAT_METRIC,
              dimensionsMap: { Cluster: props.clusterName, Slot: slot },
              statistic: cloudwatch.Stats.SAMPLE_COUNT,
              period: Duration.minutes(1),
              label: `slot ${slot}`,
            }),
        ),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Executions started and failed',
        left: Object.entries(props.stateMachines).map(([workflow, machine]) =>
          machine.metricStarted({ period: Duration.minutes(5), label: `${workflow} started` }),
        ),
        right: Object.entries(props.stateMachines).map(([workflow, machine]) =>
          machine.metricFailed({ period: Duration.minutes(5), label: `${workflow} failed` }),
        ),
        width: 12,
      }),
    );
    // The functions' metrics also carry the `service` dimension that Powertools adds to every metric.
    const cluster = { service: POWERTOOLS_SERVICE, Cluster: props.clusterName };
    const own = (
      metricName: string,
      statistic: string,
      label: string,
      dimensionsMap: Record<string, string> = cluster,
    ) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap,
        statistic,
        period: Duration.minutes(1),
        label,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Weights after each shift, and healthy serving nodes',
        left: props.slots.map((slot) =>
          own(METRIC_NAMES.slotWeight, cloudwatch.Stats.MAXIMUM, `slot ${slot}`, { ...cluster, Slot: slot }),
        ),
        right: [own(METRIC_NAMES.healthyServing, cloudwatch.Stats.MINIMUM, 'healthy serving nodes')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failover: from the alarm to traffic moved, and to redundancy restored (s)',
        left: [
          own(METRIC_NAMES.failoverTrafficMoved, cloudwatch.Stats.MAXIMUM, 'traffic moved'),
          own(METRIC_NAMES.failoverRedundancyRestored, cloudwatch.Stats.MAXIMUM, 'redundancy restored'),
        ],
        width: 12,
      }),
    );
    const outcomes = (
      label: string,
      metric: (machine: sfn.StateMachine, options: cloudwatch.MetricOptions) => cloudwatch.Metric,
    ) =>
      Object.entries(props.stateMachines).map(([workflow, machine]) =>
        metric(machine, { period: Duration.minutes(5), label: `${workflow} ${label}` }),
      );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Executions by outcome: succeeded (left); aborted and timed out (right)',
        left: outcomes('succeeded', (machine, options) => machine.metricSucceeded(options)),
        right: [
          ...outcomes('aborted', (machine, options) => machine.metricAborted(options)),
          ...outcomes('timed out', (machine, options) => machine.metricTimedOut(options)),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Undelivered events in the dead-letter queues',
        left: props.deadLetterQueues.map((queue) =>
          queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), label: queue.node.id }),
        ),
        width: 12,
      }),
    );
  }
}
