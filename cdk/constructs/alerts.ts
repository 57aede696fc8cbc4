import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface AlertsProps {
  /** Names the alarms and the topics: `zerodown-<prefix>-...`. */
  readonly prefix: string;
  /** Encrypts the paging topic; CloudWatch and EventBridge are let use it for this account's alarms and rules. */
  readonly encryptionKey: kms.IKey;
}

/**
 * Who is told when zerodown itself cannot act. Executions that fail, time out or are aborted raise alarms (those of
 * the workflows that move traffic when a node or a region is lost page), and so does an event that EventBridge could
 * not deliver to its target, which lands in the dead-letter queue every rule target here shares.
 */
export class Alerts extends Construct {
  /** For alarms someone must act on now: failover could not act, or an event that should have started it was lost. */
  public readonly pagingTopic: sns.Topic;
  /** The dead-letter queue of every EventBridge target: a lost alarm event or status change lands here. */
  public readonly deadLetters: sqs.Queue;
  /** Every alarm on zerodown's own failures made so far: the undelivered events, and each watched execution. */
  public readonly alarms: cloudwatch.Alarm[] = [];
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    this.prefix = props.prefix;
    const stack = Stack.of(this);
    this.pagingTopic = new sns.Topic(this, 'Paging', {
      displayName: `zerodown ${props.prefix}: page`,
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    // Alarms and rules publish to the encrypted topic with the key: the services need the key for this account only.
    props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `AllowAlarmsAndRulesToPublish${id}`,
        principals: [
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
          new iam.ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    this.deadLetters = new sqs.Queue(this, 'EventDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the EventBridge rule targets; it has an alarm instead of one.',
    });
    this.page(
      new cloudwatch.Alarm(this, 'EventsUndelivered', {
        alarmName: `zerodown-${props.prefix}-events-undelivered`,
        alarmDescription:
          `zerodown ${props.prefix}: EventBridge could not deliver an event to its target (a failover start, a ` +
          'recovery, a report). Read the message attributes in the dead-letter queue for the rule and the error.',
        metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      this.pagingTopic,
    );
  }

  /**
   * Alarms on the executions of `stateMachine` that fail, time out or are aborted, each as soon as one does, sent to
   * `topic`.
   */
  public watchExecutions(workflow: string, stateMachine: sfn.StateMachine, topic: sns.ITopic): cloudwatch.Alarm[] {
    const ends = [
      ['Failed', 'failed', stateMachine.metricFailed({ period: Duration.minutes(1) })],
      ['TimedOut', 'timed out', stateMachine.metricTimedOut({ period: Duration.minutes(1) })],
      ['Aborted', 'were aborted', stateMachine.metricAborted({ period: Duration.minutes(1) })],
    ] as const;
    return ends.map(([id, verb, metric]) =>
      this.page(
        new cloudwatch.Alarm(this, `${workflow}-${id}`, {
          alarmName: `zerodown-${this.prefix}-${workflow}-executions-${id.toLowerCase()}`,
          alarmDescription: `zerodown: ${workflow} executions ${verb}. Read the execution's history and the topic's report.`,
          metric,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        topic,
      ),
    );
  }

  private page(alarm: cloudwatch.Alarm, topic: sns.ITopic): cloudwatch.Alarm {
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
