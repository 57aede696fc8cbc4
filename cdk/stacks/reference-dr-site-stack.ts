import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import {
  referenceLoadBalancer,
  referenceNetwork,
  referenceNodeBoot,
  referenceNodeTemplate,
  referenceSecurityGroups,
  referenceTargetGroup,
} from './reference-site';

export interface ReferenceDrSiteStackProps extends StackProps {
  /** The cluster whose cold standby this is. @default 'reference' */
  readonly clusterName?: string;
  /** @default 't4g.small' */
  readonly instanceType?: string;
}

/**
 * The reference cluster's cold standby, in the DR region: the same network as the primary (a VPC with private node
 * subnets, one NAT gateway and the same endpoints), a load balancer whose listener forwards to one target group for
 * the DR nodes, the DR nodes' launch template, role and security groups, and the AMI parameter. It runs no instance:
 * zerodown's region-failover launches the DR nodes from the launch template, registers them in the target group, and
 * tears them down after a drill or a failback.
 */
export class ReferenceDrSiteStack extends Stack {
  public readonly nodeSubnets: ec2.SelectedSubnets;
  /** For zerodown's DR function that checks the DR nodes on their private addresses (the model's dr.securityGroupIds). */
  public readonly probeGroup: ec2.ISecurityGroup;
  public readonly balancer: elbv2.ApplicationLoadBalancer;
  public readonly targetGroup: elbv2.ApplicationTargetGroup;
  public readonly launchTemplate: ec2.LaunchTemplate;
  /** The DR nodes' role: launching from the launch template passes it. */
  public readonly nodeRole: iam.IRole;
  /** The parameter, in the DR region, with the AMI the DR nodes launch from. */
  public readonly imageParameterName: string;

  constructor(scope: Construct, id: string, props: ReferenceDrSiteStackProps = {}) {
    super(scope, id, props);
    const clusterName = props.clusterName ?? 'reference';

    const { vpc, nodeSubnets } = referenceNetwork(this);
    const groups = referenceSecurityGroups(this, vpc, {
      description: 'The reference cluster DR nodes: the node port from the load balancer and the probes',
      // DR nodes serve on their own: none is a manager, so none syncs from another.
      fileSync: false,
    });
    this.balancer = referenceLoadBalancer(this, vpc, groups.balancer);
    this.targetGroup = referenceTargetGroup(this, 'TargetGroupDr', vpc);
    this.balancer.addListener('Http', { port: 80, open: false, defaultTargetGroups: [this.targetGroup] });

    const template = referenceNodeTemplate(this, {
      clusterName,
      instanceType: props.instanceType ?? 't4g.small',
      securityGroup: groups.nodes,
      roleDescription: `zerodown ${clusterName} DR nodes`,
      imageDescription: `The AMI of the ${clusterName} DR nodes`,
    });
    // A DR node serves as itself (its zerodown:role tag is "dr"), with no manager to sync from and no heartbeat: the
    // heartbeat alarms watch the primary's slots, and the DR site is checked by region-failover's own polls.
    template.userData.addCommands(...referenceNodeBoot(template.server));

    this.nodeSubnets = nodeSubnets;
    this.probeGroup = groups.probes;
    this.launchTemplate = template.launchTemplate;
    this.nodeRole = template.role;
    this.imageParameterName = template.imageParameterName;

    new CfnOutput(this, 'Url', {
      description: 'The DR site, through its load balancer: it answers once a drill or a failover has started it',
      value: `http://${this.balancer.loadBalancerDnsName}/`,
    });
  }
}
