import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as targets from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { NODE_KIT_COMMAND_KINDS } from '../../functions/domain/cluster-model';
import { CLUSTER_TAG_KEY } from '../../functions/domain/tags';
import { heartbeatInstallCommands, nodeTags } from '../../kits/node/node-kit';
import { ZeroDownCluster } from '../constructs/zerodown-cluster';
import type { ReferenceDrSiteStack } from './reference-dr-site-stack';
import {
  REFERENCE_NODE_PORT,
  referenceLoadBalancer,
  referenceNetwork,
  referenceNodeBoot,
  referenceNodeTemplate,
  referenceSecurityGroups,
  referenceTargetGroup,
} from './reference-site';

export { REFERENCE_BASE_IMAGE_PARAMETER, REFERENCE_NODE_PORT } from './reference-site';

const SLOTS = ['a', 'b'] as const;
const SURGE_SLOT = 'surge';

export interface ReferenceClusterStackProps extends StackProps {
  /** The cluster's name. @default 'reference' */
  readonly clusterName?: string;
  /** @default 't4g.small' */
  readonly instanceType?: string;
  /** A cold-standby site in another region, and the DNS name that moves between the two. @default none */
  readonly dr?: ReferenceDrProps;
}

export interface ReferenceDrProps {
  /** The DR site, in its own region. */
  readonly site: ReferenceDrSiteStack;
  /** The operator's public hosted zone that holds `recordName`. */
  readonly hostedZoneId: string;
  /** The cluster's DNS name, which the failover records point at one load balancer or the other. */
  readonly recordName: string;
}

/**
 * A cluster to try zerodown on for real, and zerodown protecting it, in one stack: a VPC (public subnets for the load
 * balancer, private ones for the nodes, with the endpoints zerodown's probes and the nodes' agents use), an
 * Application Load Balancer whose listener weighs one target group per slot and a surge group, a launch template
 * from the latest Amazon Linux 2023 AMI, two nodes running the reference node server and the node kit, and
 * `ZeroDownCluster` wired to all of it. Everything zerodown is given comes from the resources here: no ARN is typed.
 * With a DR site, the model's `dr` block names the DR site's resources, and the stack adds the failover records of the
 * cluster's DNS name.
 */
export class ReferenceClusterStack extends Stack {
  public readonly cluster: ZeroDownCluster;
  /** The model given to `ZeroDownCluster`, ids and ARNs still tokens: a DR stack stores its own copy of it. */
  public readonly modelInput: ClusterModelInput;

  constructor(scope: Construct, id: string, props: ReferenceClusterStackProps = {}) {
    // The zerodown state machines make this template large; unindented it stays well inside CloudFormation's limit.
    super(scope, id, {
      suppressTemplateIndentation: true,
      // The DR site's ids and ARNs come from another region (see buildReferenceApp): the stack uses them as they are,
      // rather than having CDK give the DR site's resources physical names it could refer to.
      ...(props.dr ? { crossRegionReferences: true } : {}),
      ...props,
    });
    const clusterName = props.clusterName ?? 'reference';

    const { vpc, nodeSubnets } = referenceNetwork(this);
    const groups = referenceSecurityGroups(this, vpc, {
      description: 'The reference cluster nodes: the node port from the load balancer, the probes and each other',
      fileSync: true,
    });
    const balancer = referenceLoadBalancer(this, vpc, groups.balancer);
    const targetGroup = (slot: string) =>
      referenceTargetGroup(this, `TargetGroup${slot[0]?.toUpperCase()}${slot.slice(1)}`, vpc);
    const slotGroups = Object.fromEntries(SLOTS.map((slot) => [slot, targetGroup(slot)]));
    const surgeGroup = targetGroup(SURGE_SLOT);
    // Active/passive: slot a serves, slot b stands by, and the surge group waits for a surge node.
    const listener = balancer.addListener('Http', {
      port: 80,
      open: false,
      defaultAction: elbv2.ListenerAction.weightedForward([
        { targetGroup: slotGroups.a as elbv2.ApplicationTargetGroup, weight: 100 },
        { targetGroup: slotGroups.b as elbv2.ApplicationTargetGroup, weight: 0 },
        { targetGroup: surgeGroup, weight: 0 },
      ]),
    });

    // The nodes run the reference node server, bundled here and fetched at boot.
    const { server, role, userData, launchTemplate, imageParameterName } = referenceNodeTemplate(this, {
      clusterName,
      instanceType: props.instanceType ?? 't4g.small',
      securityGroup: groups.nodes,
      roleDescription: `zerodown ${clusterName} reference nodes`,
      imageDescription: `The AMI of the ${clusterName} nodes`,
    });
    const managerParameterName = `/zerodown/${clusterName}/manager-address`;
    const managerParameter = new ssm.StringParameter(this, 'ManagerAddress', {
      parameterName: managerParameterName,
      description: `Where the ${clusterName} nodes sync the deployment directory from`,
      stringValue: 'pending',
    });
    // Granted by name: a reference to the parameter would make the nodes' policy wait for the manager node.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:GetParameter'],
        resources: [
          this.formatArn({ service: 'ssm', resource: 'parameter', resourceName: managerParameterName.slice(1) }),
        ],
      }),
    );

    // The listener sends everything to slot a, so slot b is the passive node: the runbook's manager.
    const nodes = SLOTS.map((slot, index) => {
      const nodeRole = slot === 'b' ? ('manager' as const) : ('worker' as const);
      const instance = new ec2.CfnInstance(this, `Node${slot.toUpperCase()}`, {
        launchTemplate: {
          launchTemplateId: launchTemplate.launchTemplateId,
          version: launchTemplate.latestVersionNumber,
        },
        subnetId: nodeSubnets.subnetIds[index % nodeSubnets.subnetIds.length],
        monitoring: true,
        tags: Object.entries({
          ...nodeTags(clusterName, { role: nodeRole, slot }),
          Name: `${clusterName}-${slot}`,
        }).map(([key, value]) => ({ key, value })),
      });
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC29',
        reason: 'zerodown replaces a lost node and labels the old one; termination protection would block cdk destroy.',
      });
      Validations.of(instance).acknowledge({
        id: 'AwsSolutions-EC26',
        reason: 'The launch template gives the root volume, and it is encrypted there.',
      });
      slotGroups[slot]?.addTarget(new targets.InstanceIdTarget(instance.ref, REFERENCE_NODE_PORT));
      return { slot, role: nodeRole, instance };
    });
    const manager = nodes.find((node) => node.role === 'manager')?.instance;
    const others = nodes.filter((node) => node.role !== 'manager').map((node) => node.instance);
    if (manager) {
      (managerParameter.node.defaultChild as ssm.CfnParameter).value =
        `http://${manager.attrPrivateIp}:${REFERENCE_NODE_PORT}`;
    }
    // The other nodes read the manager's address when they boot, so it must be there first.
    for (const node of others) node.node.addDependency(managerParameter);

    const model: ClusterModelInput = {
      name: clusterName,
      region: this.region,
      topology: 'active-passive',
      nodes: nodes.map(({ slot, role: nodeRole, instance }) => ({ instanceId: instance.ref, role: nodeRole, slot })),
      traffic: {
        strategy: 'weighted-target-groups',
        listenerArn: listener.listenerArn,
        slots: [
          ...SLOTS.map((slot) => ({ name: slot, targetGroupArn: slotGroups[slot]?.targetGroupArn ?? '' })),
          { name: SURGE_SLOT, targetGroupArn: surgeGroup.targetGroupArn },
        ],
        surgeSlot: SURGE_SLOT,
      },
      network: {
        vpcId: vpc.vpcId,
        subnetIds: nodeSubnets.subnetIds,
        securityGroupIds: [groups.probes.securityGroupId],
      },
      surge: {
        launchTemplateId: launchTemplate.launchTemplateId ?? '',
        imageParameter: imageParameterName,
        subnetIds: nodeSubnets.subnetIds,
        instanceRoleArn: role.roleArn,
      },
      healthChecks: {
        http: [{ name: 'server health', path: '/health', port: REFERENCE_NODE_PORT }],
        version: { path: '/version', port: REFERENCE_NODE_PORT },
      },
      commands: Object.fromEntries(NODE_KIT_COMMAND_KINDS.map((kind) => [kind, { kit: 'node' }])),
      ...(props.dr ? { dr: drBlockOf(props.dr) } : {}),
    };
    this.modelInput = model;
    this.cluster = new ZeroDownCluster(this, 'Cluster', { model, removalPolicy: RemovalPolicy.DESTROY });
    role.addManagedPolicy(this.cluster.nodeKit.nodePolicy);
    userData.addCommands(
      ...referenceNodeBoot(server, {
        managerAddress: { parameterName: managerParameterName, region: this.cluster.model.region },
        thenRun: heartbeatInstallCommands(this.cluster.model, {
          failoverStateMachineArn: this.cluster.nodeKit.failoverStateMachineArn,
        }).filter((line) => line !== 'set -eu'),
      }),
    );
    if (props.dr) failoverRecords(this, clusterName, props.dr, balancer);

    new CfnOutput(this, 'Url', {
      description: 'The cluster, through its load balancer',
      value: `http://${balancer.loadBalancerDnsName}/`,
    });
    new CfnOutput(this, 'ClusterTag', {
      description: 'The tag on every node',
      value: `${CLUSTER_TAG_KEY}=${clusterName}`,
    });
  }
}

/** The model's `dr` block: every id and ARN is the DR site's own, read across regions when deployed. */
function drBlockOf(dr: ReferenceDrProps): NonNullable<ClusterModelInput['dr']> {
  const { site } = dr;
  return {
    region: site.region,
    launchTemplateId: site.launchTemplate.launchTemplateId ?? '',
    imageParameter: site.imageParameterName,
    subnetIds: site.nodeSubnets.subnetIds,
    securityGroupIds: [site.probeGroup.securityGroupId],
    nodeCount: 2,
    loadBalancerArn: site.balancer.loadBalancerArn,
    targetGroupArn: site.targetGroup.targetGroupArn,
    hostedZoneId: dr.hostedZoneId,
    recordName: dr.recordName,
    routing: 'failover',
    instanceRoleArn: site.nodeRole.roleArn,
  };
}

/**
 * The two failover alias records of the cluster's DNS name, which region-failover's `route-dns` reads and swaps (it
 * changes existing records and creates none): PRIMARY on this load balancer, SECONDARY on the DR site's. Neither
 * evaluates its target's health: the DR load balancer has no targets until a failover, so Route 53 would count it
 * down, and zerodown, not a health check, decides which site serves. CloudFormation leaves the records as zerodown
 * set them until the records' own properties change.
 */
function failoverRecords(
  scope: Construct,
  clusterName: string,
  dr: ReferenceDrProps,
  balancer: elbv2.IApplicationLoadBalancer,
): void {
  const sites = [
    { id: 'DnsPrimary', failover: 'PRIMARY', setIdentifier: `${clusterName}-primary`, target: balancer },
    { id: 'DnsSecondary', failover: 'SECONDARY', setIdentifier: `${clusterName}-dr`, target: dr.site.balancer },
  ];
  for (const { id, failover, setIdentifier, target } of sites) {
    new route53.CfnRecordSet(scope, id, {
      hostedZoneId: dr.hostedZoneId,
      name: dr.recordName,
      type: 'A',
      failover,
      setIdentifier,
      aliasTarget: {
        dnsName: target.loadBalancerDnsName,
        hostedZoneId: target.loadBalancerCanonicalHostedZoneId,
        evaluateTargetHealth: false,
      },
    });
  }
}
