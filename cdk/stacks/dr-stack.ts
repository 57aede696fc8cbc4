import { Duration, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import {
  type ClusterModelInput,
  clusterParameterName,
  parameterTierFor,
  parseClusterModel,
} from '../../functions/domain/cluster-model';
import { drSiteOf } from '../../functions/domain/dr-site';
import { membershipParameterName } from '../../functions/domain/membership';
import { CLUSTER_TAG_KEY, DR_ROLE, EXECUTION_TAG_KEY, ROLE_TAG_KEY } from '../../functions/domain/tags';
import { versionRecordParameterName } from '../../functions/domain/version-record';
import { WORKFLOWS } from '../../functions/domain/workflows';
import { REGION_FAILOVER, regionFailoverDefinition } from '../../statemachines/region-failover';
import { DEFAULT_TIMING } from '../../statemachines/workflow-builder';
import { Alerts } from '../constructs/alerts';
import { allow, allowTaggedLaunch } from '../constructs/launch-permissions';
import { createLockTable, grantLock } from '../constructs/lock-table';
import { logEncryptionKey } from '../constructs/log-key';
import { WorkflowStateMachine } from '../constructs/workflow-state-machine';
import { lockLeaseSeconds } from '../constructs/workflows';
import { ZeroDownFunction } from '../constructs/zerodown-function';
import { standInsForTokens } from '../model-tokens';

export interface DrStackProps extends StackProps {
  /** The cluster model. Its ids and ARNs may be tokens of resources the same app creates, as `ZeroDownCluster`'s may. */
  readonly model: ClusterModelInput;
}

/**
 * The DR site's orchestration, deployed in the DR region so that losing the primary region cannot take it down: a
 * copy of the cluster model, the functions that start and stop the cold standby and move the DNS name, and the
 * `region-failover` state machine. The cold standby itself (launch template, AMI, load balancer and target group in
 * the DR region, and the Route 53 records) is the operator's, named in the model's `dr` block.
 */
export class DrStack extends Stack {
  public readonly regionFailover: WorkflowStateMachine;
  /** The DR site's own topic (the primary region's may be gone), its execution alarms and dead-letter queue. */
  public readonly alerts: Alerts;

  constructor(scope: Construct, id: string, props: DrStackProps) {
    super(scope, id, props);
    const tokens = standInsForTokens(props.model, (input) => input.region);
    const model = tokens.restore(parseClusterModel(tokens.validatable));
    const site = drSiteOf(model);
    const logGroupName = `/aws/vendedlogs/states/zerodown-${model.name}-dr`;

    const key = logEncryptionKey(this, 'Key', {
      description: `zerodown ${model.name}: DR workflow logs`,
      logGroupName,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The DR functions read the model in their own region: the primary region may be the one that is gone.
    const serialized = JSON.stringify(model);
    const modelParameter = new ssm.StringParameter(this, 'Model', {
      parameterName: clusterParameterName(model.name),
      description: `zerodown cluster model for ${model.name} (DR copy)`,
      stringValue: serialized,
      tier: parameterTierFor(serialized) === 'Advanced' ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
    });
    const membership = this.arn('ssm', 'parameter', membershipParameterName(model.name).slice(1));
    const readsModel = (fn: lambda.IFunction) => {
      modelParameter.grantRead(fn);
      allow(fn, ['ssm:GetParameters'], [membership]);
    };

    const drNodes = new ZeroDownFunction(this, 'DrNodes', {
      entry: 'functions/dr-nodes.ts',
      description: `zerodown ${model.name}: launch, check and tear down the DR nodes`,
      environment: { CLUSTER_NAME: model.name },
      timeout: Duration.seconds(60),
      vpc: { subnetIds: site.subnetIds, securityGroupIds: site.securityGroupIds },
    }).function;
    readsModel(drNodes);
    // The version a rollout recorded in the DR region, which every DR node must report before DNS names it.
    const versionRecord = this.arn('ssm', 'parameter', versionRecordParameterName(model.name).slice(1));
    allow(drNodes, ['ssm:GetParameter'], [versionRecord]);
    allow(drNodes, ['ec2:DescribeInstances', 'elasticloadbalancing:DescribeTargetHealth'], ['*']);
    allowTaggedLaunch(drNodes, {
      clusterName: model.name,
      role: DR_ROLE,
      launchTemplateId: site.launchTemplateId,
      subnetIds: site.subnetIds,
      imageParameter: site.imageParameter,
    });
    // Launching from a template that names an instance profile passes its role: to EC2 only, and only that role.
    if (model.dr?.instanceRoleArn) {
      allow(drNodes, ['iam:PassRole'], [model.dr.instanceRoleArn], {
        StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' },
      });
    }
    allow(
      drNodes,
      ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
      [site.targetGroupArn],
    );
    allow(drNodes, ['ec2:TerminateInstances'], [this.arn('ec2', 'instance', '*')], {
      StringEquals: {
        [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name,
        [`aws:ResourceTag/${ROLE_TAG_KEY}`]: DR_ROLE,
      },
    });
    // A failover takes over the DR nodes of a drill it pre-empted: it rewrites their execution tag, and only that.
    allow(drNodes, ['ec2:CreateTags'], [this.arn('ec2', 'instance', '*')], {
      StringEquals: {
        [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name,
        [`aws:ResourceTag/${ROLE_TAG_KEY}`]: DR_ROLE,
      },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [EXECUTION_TAG_KEY] },
    });

    // The DR site's own lock, in the DR region: drills, failovers and failbacks take it, so that none of them can
    // tear down or point DNS at a DR site another one is using.
    const workflowTimeout = Duration.hours(2);
    const lockTable = createLockTable(this, 'DrLockTable', RemovalPolicy.RETAIN);
    const drLock = new ZeroDownFunction(this, 'DrLock', {
      entry: 'functions/cluster-lock.ts',
      description: `zerodown ${model.name}: take, give back or take over the DR site's lock`,
      environment: { CLUSTER_NAME: model.name, LOCK_TABLE_NAME: lockTable.tableName },
    }).function;
    grantLock(drLock, lockTable, model.name, [REGION_FAILOVER]);
    // Terminating is scoped by the tags, like launching: the instance ARN is acknowledged there.
    const routeDns = new ZeroDownFunction(this, 'RouteDns', {
      entry: 'functions/route-dns.ts',
      description: `zerodown ${model.name}: point the DNS name at the primary or the DR region`,
      environment: { CLUSTER_NAME: model.name },
    }).function;
    readsModel(routeDns);
    const zone = this.formatArn({
      service: 'route53',
      region: '',
      account: '',
      resource: 'hostedzone',
      resourceName: site.hostedZoneId,
    });
    allow(routeDns, ['route53:ListResourceRecordSets'], [zone]);
    // Only the cluster's own record may change: Route 53 matches the normalized name (lower case, no final dot).
    allow(routeDns, ['route53:ChangeResourceRecordSets'], [zone], {
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [site.recordName.toLowerCase().replace(/\.$/, '')],
      },
    });
    allow(
      routeDns,
      [
        'elasticloadbalancing:DescribeLoadBalancers',
        'elasticloadbalancing:DescribeListeners',
        'elasticloadbalancing:DescribeRules',
        'elasticloadbalancing:DescribeTargetHealth',
      ],
      ['*'],
    );

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName,
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.regionFailover = new WorkflowStateMachine(this, WORKFLOWS[REGION_FAILOVER].constructId, {
      workflow: REGION_FAILOVER,
      clusterName: model.name,
      definition: regionFailoverDefinition(
        this,
        { drNodes, routeDns, drLock },
        // The DR site's waits are boot waits and the DNS move; every launch, tear-down poll and DNS change renews.
        { leaseSeconds: lockLeaseSeconds(DEFAULT_TIMING) },
      ),
      logGroup,
      timeout: workflowTimeout,
      lambdaFunctions: [drNodes, routeDns, drLock],
    });
    this.alerts = new Alerts(this, 'Alerts', { prefix: `${model.name}-dr`, encryptionKey: key });
    const stateMachine = this.regionFailover.stateMachine;
    this.alerts.watchExecutions(REGION_FAILOVER, stateMachine, this.alerts.pagingTopic);
    // Every start and end of a region failover, told in the DR region itself, with the execution's console link.
    new events.Rule(this, 'RegionFailoverStatus', {
      description: `zerodown ${model.name}: tell the DR topic when a region failover starts or ends`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.SnsTopic(this.alerts.pagingTopic, {
          message: events.RuleTargetInput.fromText(
            `zerodown ${model.name}: region-failover ${events.EventField.fromPath('$.detail.status')}. ` +
              `https://${events.EventField.fromPath('$.region')}.console.aws.amazon.com/states/home?region=` +
              `${events.EventField.fromPath('$.region')}#/v2/executions/details/` +
              events.EventField.fromPath('$.detail.executionArn'),
          ),
          retryAttempts: 10,
          maxEventAge: Duration.hours(1),
          deadLetterQueue: this.alerts.deadLetters,
        }),
      ],
    });
    Tags.of(this).add(CLUSTER_TAG_KEY, model.name);
  }

  private arn(service: string, resource: string, resourceName: string): string {
    return this.formatArn({ service, resource, resourceName });
  }
}
