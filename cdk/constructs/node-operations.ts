import { ArnFormat, Duration, Fn, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  bakesImages,
  type ClusterModel,
  type CommandKind,
  commandDocument,
  NODE_ROLES,
  targetGroupsOf,
} from '../../functions/domain/cluster-model';
import { snapshotPrefixFor } from '../../functions/domain/database';
import { ClusterModelError } from '../../functions/domain/errors';
import { membershipParameterName } from '../../functions/domain/membership';
import { checksTooSlowFor, nodeProbeSeconds } from '../../functions/domain/probe';
import {
  BAKED_FROM_TAG_KEY,
  CLUSTER_TAG_KEY,
  LOST_ROLE,
  PREVIOUS_IMAGE_TAG_KEY,
  ROLE_TAG_KEY,
  SLOT_TAG_KEY,
  SURGE_ROLE,
} from '../../functions/domain/tags';
import { versionRecordParameterName } from '../../functions/domain/version-record';
import { clusterTargetGroups, isWeighted, weightedListeners } from '../../functions/domain/weights';
import { CLUSTER_WORKFLOWS, LONGEST_OPERATION_SECONDS } from '../../functions/domain/workflows';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag';
import { allow, allowTaggedLaunch, roleOf } from './launch-permissions';
import { grantLock } from './lock-table';
import { ZeroDownFunction } from './zerodown-function';

export interface NodeOperationsProps {
  readonly model: ClusterModel;
  readonly modelParameter: ssm.IStringParameter;
  readonly lockTable: dynamodb.ITableV2;
  readonly topic: sns.ITopic;
  /** @default - as ZeroDownFunction */
  readonly logRetention?: logs.RetentionDays;
  /** @default - as ZeroDownFunction */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** @default - as ZeroDownFunction */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The Lambda building blocks of every workflow, one function per node operation, each with IAM scoped to this
 * cluster: resources by ARN where the API allows it, EC2 mutations conditioned on the cluster tag, and `*` only for
 * read-only calls that have no resource-level permissions.
 */
export class NodeOperations extends Construct {
  public readonly clusterLock: lambda.IFunction;
  public readonly snapshotCluster: lambda.IFunction;
  public readonly launchSurgeNode: lambda.IFunction;
  public readonly checkNodeReady: lambda.IFunction;
  public readonly runCommand: lambda.IFunction;
  public readonly verifyNode: lambda.IFunction;
  public readonly shiftTraffic: lambda.IFunction;
  public readonly retireNode: lambda.IFunction;
  public readonly notify: lambda.IFunction;
  public readonly planWorkflow: lambda.IFunction;
  public readonly checkAlarms: lambda.IFunction;
  public readonly exposeService: lambda.IFunction;
  public readonly confirmNodeLoss: lambda.IFunction;
  public readonly adoptReplacement: lambda.IFunction;
  /** Only where the model names a database. */
  public readonly snapshotDatabase?: lambda.IFunction;
  /** Only where the cluster bakes images. */
  public readonly bakeImage?: lambda.IFunction;

  private readonly props: NodeOperationsProps;

  constructor(scope: Construct, id: string, props: NodeOperationsProps) {
    super(scope, id);
    this.props = props;
    const { model } = props;
    const traffic = model.traffic;
    const weighted = traffic.strategy === 'weighted-target-groups';
    // Behind several listeners the surge slot has a target group on each; a surge node is registered in all.
    const surgeTargetGroups =
      traffic.strategy === 'weighted-target-groups'
        ? targetGroupsOf(model, { slot: traffic.surgeSlot })
        : [traffic.targetGroupArn];

    this.clusterLock = this.operation('ClusterLock', 'cluster-lock', 'Acquire, renew, release or pre-empt the lock', {
      env: { LOCK_TABLE_NAME: props.lockTable.tableName },
      readsModel: false,
    });
    grantLock(this.clusterLock, props.lockTable, model.name, CLUSTER_WORKFLOWS);

    this.snapshotCluster = this.operation(
      'SnapshotCluster',
      'snapshot-cluster',
      'Record weights, health and versions',
      {
        inVpc: true,
      },
    );
    this.allowDescribe(this.snapshotCluster, ['ec2:DescribeInstances', ...ELB_READS]);
    // A successful rollout records the version the cluster runs, here and in the DR region, where a region failover
    // reads it while this region may be gone.
    const versionRecord = versionRecordParameterName(model.name);
    this.allow(
      this.snapshotCluster,
      ['ssm:PutParameter'],
      [model.region, ...(model.dr ? [model.dr.region] : [])].map((region) => this.parameterArn(region, versionRecord)),
    );

    // Plans from the snapshot it is given, so it reads nothing but the cluster model.
    this.planWorkflow = this.operation('PlanWorkflow', 'plan-workflow', 'Validate a request and plan the rollout');

    this.checkAlarms = this.operation('CheckAlarms', 'check-alarms', 'Check the operator alarms after a bake', {
      readsModel: false,
    });
    this.allowDescribe(this.checkAlarms, ['cloudwatch:DescribeAlarms']);

    this.launchSurgeNode = this.operation('LaunchSurgeNode', 'launch-surge-node', 'Launch the surge node from the AMI');
    this.allowDescribe(this.launchSurgeNode, ['ec2:DescribeInstances']);
    this.allowLaunch(this.launchSurgeNode);
    if (weighted) this.allow(this.launchSurgeNode, ['elasticloadbalancing:RegisterTargets'], surgeTargetGroups);

    this.checkNodeReady = this.operation('CheckNodeReady', 'check-node-ready', 'One readiness poll of a node', {
      inVpc: true,
    });
    this.allowDescribe(this.checkNodeReady, [
      'ec2:DescribeInstances',
      'ssm:DescribeInstanceInformation',
      'elasticloadbalancing:DescribeTargetHealth',
    ]);

    this.runCommand = this.operation('RunCommand', 'run-command', 'Send or poll an SSM command on named nodes');
    this.allowRunCommand(this.runCommand);
    // reconfigure passes the nodes' private addresses, which it reads when it runs (a replacement has a new one), and
    // the commands a failover or a recovery finds unfinished include those on the surge nodes, found by their tags.
    this.allowDescribe(this.runCommand, ['ec2:DescribeInstances']);

    this.verifyNode = this.operation('VerifyNode', 'verify-node', 'Run the health checks against one node', {
      inVpc: true,
    });
    this.allowDescribe(this.verifyNode, ['ec2:DescribeInstances', 'elasticloadbalancing:DescribeTargetHealth']);

    this.shiftTraffic = this.operation('ShiftTraffic', 'shift-traffic', 'Re-weight traffic behind the capacity guard', {
      timeout: Duration.seconds(LONGEST_OPERATION_SECONDS),
    });
    this.allowDescribe(this.shiftTraffic, ELB_READS);
    this.allowTrafficChanges(this.shiftTraffic);

    this.retireNode = this.operation('RetireNode', 'retire-node', 'Deregister and terminate a surge node');
    this.allowDescribe(this.retireNode, ['ec2:DescribeInstances', ...ELB_READS]);
    const anyInstance = this.arn('ec2', 'instance', '*');
    acknowledgeWildcardResource(
      roleOf(this.retireNode),
      anyInstance,
      'Terminate only instances tagged with this cluster and the surge role: the condition, not the ARN, scopes it.',
    );
    this.allow(this.retireNode, ['ec2:TerminateInstances'], [anyInstance], {
      StringEquals: {
        [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name,
        [`aws:ResourceTag/${ROLE_TAG_KEY}`]: SURGE_ROLE,
      },
    });
    this.allow(this.retireNode, ['elasticloadbalancing:DeregisterTargets'], surgeTargetGroups);
    if (!weighted) this.allowTrafficChanges(this.retireNode);

    this.exposeService = this.operation(
      'ExposeService',
      'expose-service',
      'Expose a deployed service through a listener rule',
    );
    this.allowDescribe(this.exposeService, ELB_READS);
    const exposedRules = exposedRuleArns(traffic.listenerArn);
    acknowledgeWildcardResource(
      roleOf(this.exposeService),
      exposedRules,
      'Rules are created on this cluster listener only; the ARN of a rule is not known before it exists.',
    );
    this.allow(this.exposeService, ['elasticloadbalancing:CreateRule'], [traffic.listenerArn, exposedRules], {
      StringEquals: { [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: model.name },
    });
    this.allow(this.exposeService, ['elasticloadbalancing:AddTags'], [exposedRules], {
      StringEquals: { 'elasticloadbalancing:CreateAction': 'CreateRule' },
    });

    this.confirmNodeLoss = this.operation(
      'ConfirmNodeLoss',
      'confirm-node-loss',
      'Probe a node an alarm reported lost',
      {
        inVpc: true,
      },
    );
    this.allowDescribe(this.confirmNodeLoss, ['ec2:DescribeInstances', ...ELB_READS]);

    this.adoptReplacement = this.operation(
      'AdoptReplacement',
      'adopt-replacement',
      'Make a verified replacement the permanent node of a slot',
    );
    this.allowDescribe(this.adoptReplacement, ['ec2:DescribeInstances', ...ELB_READS]);
    if (traffic.strategy === 'weighted-target-groups') {
      this.allow(
        this.adoptReplacement,
        ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        clusterTargetGroups(model),
      );
    }
    acknowledgeWildcardResource(
      roleOf(this.adoptReplacement),
      anyInstance,
      'Tags only instances of this cluster, and only the role, slot and Name tags: the conditions scope it.',
    );
    // The role written must be a permanent one, or `lost`: never `surge`, which retire-node may terminate.
    this.allow(this.adoptReplacement, ['ec2:CreateTags'], [anyInstance], {
      StringEquals: {
        [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name,
        [`aws:RequestTag/${ROLE_TAG_KEY}`]: [...NODE_ROLES, LOST_ROLE],
      },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [ROLE_TAG_KEY, SLOT_TAG_KEY, 'Name'] },
    });
    this.allow(this.adoptReplacement, ['ssm:PutParameter'], [this.membershipParameterArn()]);

    if (model.database) this.snapshotDatabase = this.databaseSnapshots(model.database);
    if (bakesImages(model)) this.bakeImage = this.imageBaking();

    this.notify = this.operation('Notify', 'notify', 'Publish a workflow event to the cluster topic', {
      env: { TOPIC_ARN: props.topic.topicArn },
      readsModel: false,
    });
    props.topic.grantPublish(this.notify);
    acknowledgeWildcardAction(
      roleOf(this.notify),
      'kms:GenerateDataKey*',
      'Publishing to the KMS-encrypted topic needs data keys of the topic key only (the grant names that key).',
    );
  }

  /** All functions, for granting invoke to the state machines. */
  public get all(): lambda.IFunction[] {
    return [
      this.clusterLock,
      this.snapshotCluster,
      this.launchSurgeNode,
      this.checkNodeReady,
      this.runCommand,
      this.verifyNode,
      this.shiftTraffic,
      this.retireNode,
      this.notify,
      this.planWorkflow,
      this.checkAlarms,
      this.exposeService,
      this.confirmNodeLoss,
      this.adoptReplacement,
      ...(this.snapshotDatabase ? [this.snapshotDatabase] : []),
      ...(this.bakeImage ? [this.bakeImage] : []),
    ];
  }

  /**
   * The function that bakes a changed node's image after a rollout, copies it to the DR region and publishes it. It
   * may image only instances of this cluster, and create, tag, copy and deregister only images and snapshots that
   * carry the cluster's tag, in the cluster's region and its DR region; it writes the two image parameters only.
   */
  private imageBaking(): lambda.IFunction {
    const { model } = this.props;
    const stack = Stack.of(this);
    const fn = this.operation('BakeImage', 'bake-image', 'Bake, copy and publish the image of a changed node');
    const regions = [model.region, ...(model.dr ? [model.dr.region] : [])];
    const ec2Arn = (region: string, resource: string) =>
      stack.formatArn({
        service: 'ec2',
        region,
        account: resource === 'instance' ? undefined : '',
        resource,
        resourceName: '*',
      });
    const images = (region: string) => ec2Arn(region, 'image');
    const snapshots = (region: string) => ec2Arn(region, 'snapshot');
    const clusterTag = { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name };
    const requestTag = { StringEquals: { [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: model.name } };
    const primary = model.region;
    const dr = model.dr?.region;

    this.allowDescribe(fn, ['ec2:DescribeImages', 'ec2:DescribeInstances']);
    const parameters = [
      model.surge.imageParameter && this.parameterArn(primary, model.surge.imageParameter),
      model.dr?.imageParameter && this.parameterArn(model.dr.region, model.dr.imageParameter),
    ].filter((arn): arn is string => Boolean(arn));
    this.allow(fn, ['ssm:GetParameter', 'ssm:PutParameter'], parameters);

    // Reboots and images only nodes of this cluster; what it creates carries the cluster's tag.
    this.allow(fn, ['ec2:CreateImage'], [ec2Arn(primary, 'instance')], { StringEquals: clusterTag });
    this.allow(fn, ['ec2:CreateImage'], [images(primary), snapshots(primary)], requestTag);
    this.allow(fn, ['ec2:CreateTags'], [images(primary), snapshots(primary)], {
      StringEquals: { 'ec2:CreateAction': 'CreateImage' },
    });
    if (dr) {
      this.allow(fn, ['ec2:CopyImage'], [images(primary)], { StringEquals: clusterTag });
      this.allow(fn, ['ec2:CopyImage'], [images(dr)], requestTag);
      this.allow(fn, ['ec2:CreateTags'], [images(dr), snapshots(dr)], {
        StringEquals: { 'ec2:CreateAction': 'CopyImage' },
      });
    }
    // Publishing notes the image it replaces on the new image, for a retried publish to answer the same.
    this.allow(fn, ['ec2:CreateTags'], regions.map(images), {
      StringEquals: clusterTag,
      'ForAllValues:StringEquals': { 'aws:TagKeys': [PREVIOUS_IMAGE_TAG_KEY] },
    });
    // Retention removes only images zerodown baked for this cluster, and their snapshots.
    this.allow(fn, ['ec2:DeregisterImage'], regions.map(images), {
      StringEquals: clusterTag,
      Null: { [`aws:ResourceTag/${BAKED_FROM_TAG_KEY}`]: 'false' },
    });
    this.allow(fn, ['ec2:DeleteSnapshot'], regions.map(snapshots), { StringEquals: clusterTag });
    for (const resource of [ec2Arn(primary, 'instance'), ...regions.map(images), ...regions.map(snapshots)]) {
      acknowledgeWildcardResource(
        roleOf(fn),
        resource,
        "Images and snapshots are named by EC2 when created: every statement on them is conditioned on the cluster's tag or on the action that creates them.",
      );
    }
    return fn;
  }

  private parameterArn(region: string, parameterName: string): string {
    return Stack.of(this).formatArn({
      service: 'ssm',
      region,
      resource: 'parameter',
      resourceName: parameterName.slice(1),
    });
  }

  /**
   * The function that snapshots the cluster's database before an upgrade migrates it: it may snapshot that one DB
   * instance or Aurora cluster, into snapshots named for this cluster, and describe those snapshots only.
   */
  private databaseSnapshots(database: NonNullable<ClusterModel['database']>): lambda.IFunction {
    const fn = this.operation('SnapshotDatabase', 'snapshot-database', 'Snapshot the database before a migration');
    const colon = (resource: string, name: string) => this.arn('rds', resource, name, ArnFormat.COLON_RESOURCE_NAME);
    const prefix = `${snapshotPrefixFor(this.props.model.name)}*`;
    const [source, snapshots, create, describe] =
      database.engine === 'aurora-cluster'
        ? [
            colon('cluster', database.identifier),
            colon('cluster-snapshot', prefix),
            'rds:CreateDBClusterSnapshot',
            'rds:DescribeDBClusterSnapshots',
          ]
        : [
            colon('db', database.identifier),
            colon('snapshot', prefix),
            'rds:CreateDBSnapshot',
            'rds:DescribeDBSnapshots',
          ];
    acknowledgeWildcardResource(
      roleOf(fn),
      snapshots,
      "Snapshots named with this cluster's prefix only: each run's snapshot is named after its execution, unknown before.",
    );
    // Every snapshot it creates carries the cluster's tag, which RDS authorizes as a tagging of the new snapshot.
    const taggedForCluster = { StringEquals: { [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: this.props.model.name } };
    this.allow(fn, [create], [source, snapshots], taggedForCluster);
    this.allow(fn, ['rds:AddTagsToResource'], [snapshots], taggedForCluster);
    this.allow(fn, [describe], [source, snapshots]);
    return fn;
  }

  private operation(
    id: string,
    entry: string,
    description: string,
    options: { env?: Record<string, string>; inVpc?: boolean; readsModel?: boolean; timeout?: Duration } = {},
  ): lambda.IFunction {
    const { model } = this.props;
    if ((options.timeout?.toSeconds() ?? 0) > LONGEST_OPERATION_SECONDS) {
      throw new Error(
        `${id}: a node operation may run at most ${LONGEST_OPERATION_SECONDS} s (recovery waits that out)`,
      );
    }
    // A function that probes nodes waits as long as the model's slowest check lets a silent node keep it waiting.
    const timeout =
      options.timeout ??
      (options.inVpc ? Duration.seconds(Math.max(DEFAULT_TIMEOUT_SECONDS, nodeProbeSeconds(model))) : undefined);
    if ((timeout?.toSeconds() ?? 0) > LONGEST_OPERATION_SECONDS) {
      throw new ClusterModelError(
        `Cluster "${model.name}" has health checks its probes cannot wait for`,
        checksTooSlowFor(model, LONGEST_OPERATION_SECONDS),
      );
    }
    const fn = new ZeroDownFunction(this, id, {
      entry: `functions/${entry}.ts`,
      description: `zerodown ${model.name}: ${description}`,
      environment: { CLUSTER_NAME: model.name, ...options.env },
      timeout: timeout ?? Duration.seconds(DEFAULT_TIMEOUT_SECONDS),
      logRetention: this.props.logRetention,
      ...(this.props.logLevel ? { logLevel: this.props.logLevel } : {}),
      removalPolicy: this.props.removalPolicy,
      ...(options.inVpc
        ? { vpc: { subnetIds: model.network.subnetIds, securityGroupIds: model.network.securityGroupIds } }
        : {}),
    });
    if (options.readsModel ?? true) {
      this.props.modelParameter.grantRead(fn.function);
      // The model is read together with the record of replaced nodes, in one GetParameters call.
      this.allow(fn.function, ['ssm:GetParameters'], [this.membershipParameterArn()]);
    }
    return fn.function;
  }

  private membershipParameterArn(): string {
    return this.arn('ssm', 'parameter', membershipParameterName(this.props.model.name).slice(1));
  }

  private arn(service: string, resource: string, resourceName: string, arnFormat = ArnFormat.SLASH_RESOURCE_NAME) {
    return Stack.of(this).formatArn({ service, resource, resourceName, arnFormat });
  }

  private allow(fn: lambda.IFunction, actions: string[], resources: string[], conditions?: Record<string, unknown>) {
    allow(fn, actions, resources, conditions);
  }

  /** Read-only calls without resource-level permissions. */
  private allowDescribe(fn: lambda.IFunction, actions: string[]) {
    this.allow(fn, actions, ['*']);
  }

  private allowLaunch(fn: lambda.IFunction) {
    const { model } = this.props;
    allowTaggedLaunch(fn, {
      clusterName: model.name,
      role: SURGE_ROLE,
      launchTemplateId: model.surge.launchTemplateId,
      subnetIds: model.surge.subnetIds,
      imageParameter: model.surge.imageParameter,
    });
    if (model.surge.instanceRoleArn) {
      this.allow(fn, ['iam:PassRole'], [model.surge.instanceRoleArn], {
        StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      });
    }
  }

  private allowRunCommand(fn: lambda.IFunction) {
    const { model } = this.props;
    const stack = Stack.of(this);
    const names = Object.entries(model.commands).map(
      ([kind, command]) => commandDocument(kind as CommandKind, command).name,
    );
    const documents = [...new Set(names)].map((name) => {
      if (name.startsWith('arn:')) return name;
      // Documents named AWS-* are owned by AWS and have no account in their ARN.
      return stack.formatArn({
        service: 'ssm',
        resource: 'document',
        resourceName: name,
        ...(name.startsWith('AWS-') ? { account: '' } : {}),
      });
    });
    if (documents.length > 0) this.allow(fn, ['ssm:SendCommand'], documents);
    const anyInstance = this.arn('ec2', 'instance', '*');
    this.allow(fn, ['ssm:SendCommand'], [anyInstance], {
      StringEquals: { [`ssm:resourceTag/${CLUSTER_TAG_KEY}`]: model.name },
    });
    acknowledgeWildcardResource(
      roleOf(fn),
      anyInstance,
      'Commands go only to instances tagged with this cluster: the resource-tag condition, not the ARN, scopes it.',
    );
    this.allowDescribe(fn, ['ssm:GetCommandInvocation', 'ssm:ListCommands', 'ssm:ListCommandInvocations']);
    // Commands have no resource-level permissions; only this cluster's command ids ever reach the function.
    this.allow(fn, ['ssm:CancelCommand'], ['*']);
  }

  private allowTrafficChanges(fn: lambda.IFunction) {
    const { model } = this.props;
    // Every listener that carries the cluster's weights, each by its rule or its default action.
    const entries = isWeighted(model) ? weightedListeners(model) : [model.traffic];
    const rules = entries.flatMap((entry) => (entry.ruleArn ? [entry.ruleArn] : []));
    const listeners = entries.flatMap((entry) => (entry.ruleArn ? [] : [entry.listenerArn]));
    if (rules.length > 0) this.allow(fn, ['elasticloadbalancing:ModifyRule'], rules);
    if (listeners.length > 0) this.allow(fn, ['elasticloadbalancing:ModifyListener'], listeners);
    // Rules that expose the cluster's services follow its weights; only those tagged with this cluster.
    const exposedRules = exposedRuleArns(model.traffic.listenerArn);
    acknowledgeWildcardResource(
      roleOf(fn),
      exposedRules,
      'Only the rules on this cluster listener that carry the cluster tag: the condition scopes it.',
    );
    this.allow(fn, ['elasticloadbalancing:ModifyRule'], [exposedRules], {
      StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name },
    });
    if (model.traffic.strategy === 'single-target-group') {
      this.allow(
        fn,
        ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        [model.traffic.targetGroupArn],
      );
    }
  }
}

const ELB_READS = [
  'elasticloadbalancing:DescribeListeners',
  'elasticloadbalancing:DescribeRules',
  'elasticloadbalancing:DescribeTags',
  'elasticloadbalancing:DescribeTargetHealth',
];

/** Every rule on the listener: `listener-rule/app/<lb>/<lb id>/<listener id>/*`. */
function exposedRuleArns(listenerArn: string): string {
  if (Token.isUnresolved(listenerArn)) {
    // The listener is created in the same app: its rules' ARN is built when the stack deploys.
    const parts = Fn.split(':listener/', listenerArn, 2);
    return Fn.join('', [Fn.select(0, parts), ':listener-rule/', Fn.select(1, parts), '/*']);
  }
  return `${listenerArn.replace(':listener/', ':listener-rule/')}/*`;
}

/** A node operation's timeout unless it needs longer. */
const DEFAULT_TIMEOUT_SECONDS = 30;
