import { CfnOutput, type Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  type ClusterModel,
  type ClusterModelInput,
  clusterParameterName,
  parameterTierFor,
  parseClusterModel,
} from '../../functions/domain/cluster-model';
import { checkCommandSources } from '../../functions/domain/command-sources';
import { ClusterModelError } from '../../functions/domain/errors';
import { lockTableParameterName } from '../../functions/domain/membership';
import { commandsTooLongFor } from '../../functions/domain/plans/duration';
import { startExamples, startExecutionCommand } from '../../functions/domain/start-examples';
import { CLUSTER_TAG_KEY } from '../../functions/domain/tags';
import { type ClusterWorkflow, WORKFLOWS } from '../../functions/domain/workflows';
import { withKitDocuments } from '../../kits/node/documents';
import { NodeKit } from '../../kits/node/node-kit';
import { DEFAULT_TIMING, type WorkflowTiming } from '../../statemachines/workflow-builder';
import { standInsForTokens } from '../model-tokens';
import { Alerts } from './alerts';
import { ClusterDashboard } from './dashboard';
import { createLockTable } from './lock-table';
import { logEncryptionKey } from './log-key';
import { type HeartbeatSettings, NodeAlarms } from './node-alarms';
import { NodeOperations } from './node-operations';
import { DEFAULT_WORKFLOW_TIMEOUT, Workflows } from './workflows';

export interface ZeroDownClusterProps {
  /** The cluster model. It is validated here, so an invalid model fails synthesis with a `ClusterModelError`. */
  readonly model: ClusterModelInput;
  /**
   * Key for the notification topic and the state machine logs.
   * @default - a new customer-managed key with rotation, whose policy lets CloudWatch Logs use it for this cluster
   */
  readonly encryptionKey?: kms.IKey;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** The lowest level of the functions' own log lines that is kept; DEBUG adds each event and result. @default INFO */
  readonly functionLogLevel?: lambda.ApplicationLogLevel;
  /** Applies to the lock table, the key and the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** How node loss is detected. @default DEFAULT_HEARTBEAT: 2 missed 10-second heartbeats */
  readonly heartbeat?: HeartbeatSettings;
  /**
   * How long one workflow execution may run. Every plan's worst case (command timeouts, boot waits, bakes, drains,
   * file sync) must fit inside it, or the workflow refuses it with `PlanTooLongError` before touching anything; and
   * every command's `timeoutSeconds` must fit, or synthesis fails. @default Duration.hours(6)
   */
  readonly workflowTimeout?: Duration;
  /** How often workflows poll, and how long a node may take to be ready. @default 10 s polls, 900 s to be ready */
  readonly timing?: WorkflowTiming;
  /** Buckets the nodes may read deploy artifacts from, granted by the node kit's node policy. @default none */
  readonly artifactBuckets?: readonly string[];
}

/**
 * One cluster's orchestration: its model in SSM Parameter Store, the DynamoDB lock table that keeps two workflows
 * off the same cluster, the SNS topic workflows report to, and the encrypted log group for its state machines.
 */
export class ZeroDownCluster extends Construct {
  /** The validated model, with defaults filled in and the node kit's documents in place of `"kit": "node"`. */
  public readonly model: ClusterModel;
  /** The node kit: its documents and the policy for the nodes' instance role. */
  public readonly nodeKit: NodeKit;
  public readonly modelParameter: ssm.IStringParameter;
  public readonly lockTable: dynamodb.ITableV2;
  public readonly topic: sns.ITopic;
  public readonly stateMachineLogGroup: logs.ILogGroup;
  public readonly encryptionKey: kms.IKey;
  /** The Lambda node operations the workflows are built from. */
  public readonly operations: NodeOperations;
  /** The state machines; each offers `grantStartExecution`. */
  public readonly workflows: Workflows;
  /** The per-node alarms that start `failover`. */
  public readonly nodeAlarms: NodeAlarms;
  /** Alarms on executions that fail, time out or are aborted, the paging topic, and the events' dead-letter queue. */
  public readonly alerts: Alerts;
  /** The CloudWatch dashboard `zerodown-<cluster>`: failover's detection, zerodown's own failures, executions. */
  public readonly dashboard: ClusterDashboard;

  constructor(scope: Construct, id: string, props: ZeroDownClusterProps) {
    super(scope, id);
    const tokens = standInsForTokens(props.model, (model) => model.region);
    const parsed = tokens.restore(parseClusterModel(tokens.validatable));
    checkCommandSources(parsed);
    this.nodeKit = new NodeKit(this, 'NodeKit', {
      model: parsed,
      ...(props.artifactBuckets ? { artifactBuckets: props.artifactBuckets } : {}),
    });
    this.model = withKitDocuments(parsed);
    const { name } = this.model;
    const workflowTimeout = props.workflowTimeout ?? DEFAULT_WORKFLOW_TIMEOUT;
    const timing = props.timing ?? DEFAULT_TIMING;
    const tooLong = commandsTooLongFor(this.model, {
      executionTimeoutSeconds: workflowTimeout.toSeconds(),
      pollIntervalSeconds: timing.pollIntervalSeconds,
    });
    if (tooLong.length > 0) {
      throw new ClusterModelError(
        `Cluster "${name}" has commands its workflows cannot wait for (workflowTimeout ${workflowTimeout.toSeconds()} s)`,
        tooLong.map(({ kind, timeoutSeconds }) => ({
          path: `commands.${kind}.timeoutSeconds`,
          message: `is ${timeoutSeconds} s: it must leave room for the workflow's own steps inside workflowTimeout`,
        })),
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stateMachineLogGroupName = `/aws/vendedlogs/states/zerodown-${name}`;

    this.encryptionKey =
      props.encryptionKey ??
      logEncryptionKey(this, 'Key', {
        description: `zerodown ${name}: notifications and workflow logs`,
        logGroupName: stateMachineLogGroupName,
        removalPolicy,
      });

    const serializedModel = JSON.stringify(this.model);
    this.modelParameter = new ssm.StringParameter(this, 'Model', {
      parameterName: clusterParameterName(name),
      description: `zerodown cluster model for ${name}`,
      stringValue: serializedModel,
      tier: parameterTierFor(serializedModel) === 'Advanced' ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
    });
    // The stored model names the kit's documents only once they exist.
    for (const document of Object.values(this.nodeKit.documents)) this.modelParameter.node.addDependency(document);
    new CfnOutput(this, 'NodePolicyArn', {
      description: "Attach to the nodes' instance role: heartbeat, peer watch, SSM agent, artifact reads",
      value: this.nodeKit.nodePolicy.managedPolicyArn,
    });

    this.lockTable = createLockTable(this, 'LockTable', removalPolicy);
    new ssm.StringParameter(this, 'LockTableName', {
      parameterName: lockTableParameterName(name),
      description: `zerodown ${name}: the lock table, read by the CLI's status`,
      stringValue: this.lockTable.tableName,
    });

    this.topic = new sns.Topic(this, 'Events', {
      displayName: `zerodown ${name}`,
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });

    this.stateMachineLogGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: stateMachineLogGroupName,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: this.encryptionKey,
      removalPolicy,
    });

    this.operations = new NodeOperations(this, 'Operations', {
      model: this.model,
      modelParameter: this.modelParameter,
      lockTable: this.lockTable,
      topic: this.topic,
      logRetention: props.logRetention,
      ...(props.functionLogLevel ? { logLevel: props.functionLogLevel } : {}),
      removalPolicy,
    });

    this.alerts = new Alerts(this, 'Alerts', { prefix: name, encryptionKey: this.encryptionKey });

    this.workflows = new Workflows(this, 'Workflows', {
      deadLetters: this.alerts.deadLetters,
      clusterName: name,
      operations: this.operations,
      logGroup: this.stateMachineLogGroup,
      timeout: workflowTimeout,
      timing,
    });

    this.nodeAlarms = new NodeAlarms(this, 'NodeAlarms', {
      model: this.model,
      failover: this.workflows.failover,
      deadLetters: this.alerts.deadLetters,
      logRetention: props.logRetention,
      ...(props.functionLogLevel ? { logLevel: props.functionLogLevel } : {}),
      removalPolicy,
      ...(props.heartbeat ? { heartbeat: props.heartbeat } : {}),
    });
    // A failover that could not act leaves a node lost: that pages. Any other workflow's end is the cluster topic's.
    for (const [workflow, stateMachine] of Object.entries(this.workflows.byName)) {
      this.alerts.watchExecutions(
        workflow,
        stateMachine,
        workflow === 'failover' ? this.alerts.pagingTopic : this.topic,
      );
    }
    this.dashboard = new ClusterDashboard(this, 'Dashboard', {
      clusterName: name,
      nodeAlarms: this.nodeAlarms.bySlot,
      ownFailures: this.alerts.alarms,
      stateMachines: this.workflows.byName,
      deadLetterQueues: [this.alerts.deadLetters],
      // Every slot's weight is graphed, the surge slot's included.
      slots:
        this.model.traffic.strategy === 'weighted-target-groups'
          ? this.model.traffic.slots.map((slot) => slot.name)
          : [],
    });

    this.addOutputs();

    // CloudFormation's dashboard takes no tags, though CDK offers them.
    Tags.of(this).add(CLUSTER_TAG_KEY, name, { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });
  }

  /**
   * What an operator reaches for after a deployment: each state machine's ARN and a command that starts it, the
   * topics to subscribe to, and the dashboard. The ids come from the workflow registry's construct ids, so they stay
   * put as long as the workflows' names do. The cluster's template is close to CloudFormation's size limit, so the
   * ARNs and the URL carry no description and the others a short one.
   */
  private addOutputs(): void {
    const examples = startExamples(this.model);
    for (const [workflow, stateMachine] of Object.entries(this.workflows.byName) as [
      ClusterWorkflow,
      sfn.StateMachine,
    ][]) {
      const { constructId } = WORKFLOWS[workflow];
      new CfnOutput(this, `${constructId}Arn`, { value: stateMachine.stateMachineArn });
      const example = examples[workflow];
      if (example) {
        new CfnOutput(this, `${constructId}Start`, {
          description: `Starts ${workflow}: replace the placeholders`,
          value: startExecutionCommand(stateMachine.stateMachineArn, example),
        });
      }
    }
    new CfnOutput(this, 'TopicArn', {
      description: 'Workflow reports',
      value: this.topic.topicArn,
    });
    new CfnOutput(this, 'PagingTopicArn', {
      description: "Pages: a failover that could not act, zerodown's own failures",
      value: this.alerts.pagingTopic.topicArn,
    });
    const { region } = Stack.of(this);
    new CfnOutput(this, 'DashboardUrl', {
      value:
        `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}` +
        `#dashboards/dashboard/${this.dashboard.dashboard.dashboardName}`,
    });
  }
}
