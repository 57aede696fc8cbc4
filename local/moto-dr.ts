import {
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DescribeLoadBalancersCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand } from '@aws-sdk/client-route-53';
import { clientsIn } from '../functions/aws/clients/regional';
import { route53Client } from '../functions/aws/clients/route53';
import { ssmClient } from '../functions/aws/clients/ssm';
import { saveClusterModel } from '../functions/aws/ssm';
import type { ClusterModel } from '../functions/domain/cluster-model';
import type { MotoCluster } from './moto-cluster';
import { DR_REGION } from './settings';

export { DR_REGION };
export const RECORD_NAME = 'api.example.com';

export interface MotoDrSite {
  readonly model: ClusterModel;
  readonly loadBalancerArn: string;
  readonly listenerArn: string;
  readonly targetGroupArn: string;
  readonly hostedZoneId: string;
  readonly primaryDnsName: string;
  readonly drDnsName: string;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`moto returned no ${what}`);
  return value;
}

/**
 * The cold standby of a moto cluster in a second region, as an operator would set it up: a VPC on other loopback
 * addresses (so DR nodes do not collide with the primary's), an AMI and launch template, a load balancer and target
 * group with no nodes, and a Route 53 zone whose record sends the cluster's name to the primary load balancer
 * (PRIMARY) or the DR one (SECONDARY, or weighted records). The cluster model gains its `dr` block.
 */
export async function createMotoDrSite(
  cluster: MotoCluster,
  options: { routing?: 'failover' | 'weighted'; nodeCount?: number } = {},
): Promise<MotoDrSite> {
  const { ec2, elbv2 } = clientsIn(DR_REGION);
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '127.0.0.0/16' }));
  const vpcId = required(vpc.Vpc?.VpcId, 'VpcId');
  const subnetIds: string[] = [];
  for (const [index, zone] of ['a', 'b'].entries()) {
    const subnet = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: `127.0.${index + 11}.0/24`,
        AvailabilityZone: `${DR_REGION}${zone}`,
      }),
    );
    subnetIds.push(required(subnet.Subnet?.SubnetId, 'SubnetId'));
  }
  const group = await ec2.send(
    new CreateSecurityGroupCommand({ GroupName: `${cluster.model.name}-dr`, Description: 'zerodown DR', VpcId: vpcId }),
  );
  const image = await ec2.send(
    new RegisterImageCommand({ Name: `${cluster.model.name}-dr-1.0.0`, RootDeviceName: '/dev/xvda' }),
  );
  const imageId = required(image.ImageId, 'ImageId');
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${cluster.model.name}-dr`,
      LaunchTemplateData: { ImageId: imageId, InstanceType: 't4g.large' },
    }),
  );
  const balancer = await elbv2.send(
    new CreateLoadBalancerCommand({ Name: `${cluster.model.name}-dr`, Subnets: subnetIds, Type: 'application' }),
  );
  const loadBalancerArn = required(balancer.LoadBalancers?.[0]?.LoadBalancerArn, 'LoadBalancerArn');
  const drDnsName = required(balancer.LoadBalancers?.[0]?.DNSName, 'DNSName');
  const targetGroup = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: `${cluster.model.name}-dr`.slice(0, 32),
      Protocol: 'HTTP',
      Port: cluster.nodePort,
      VpcId: vpcId,
      TargetType: 'instance',
      HealthCheckPath: '/health',
    }),
  );
  const targetGroupArn = required(targetGroup.TargetGroups?.[0]?.TargetGroupArn, 'TargetGroupArn');
  const listener = await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: loadBalancerArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [
        { Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: targetGroupArn, Weight: 1 }] } },
      ],
    }),
  );
  const listenerArn = required(listener.Listeners?.[0]?.ListenerArn, 'ListenerArn');

  const primary = await clientsIn(cluster.model.region).elbv2.send(
    new DescribeLoadBalancersCommand({ LoadBalancerArns: [cluster.loadBalancerArn] }),
  );
  const primaryDnsName = required(primary.LoadBalancers?.[0]?.DNSName, 'primary DNSName');
  const zone = await route53Client.send(
    new CreateHostedZoneCommand({ Name: 'example.com', CallerReference: `${cluster.model.name}-${Date.now()}` }),
  );
  const hostedZoneId = required(zone.HostedZone?.Id, 'HostedZone.Id').replace('/hostedzone/', '');
  const routing = options.routing ?? 'failover';
  const alias = (dnsName: string) => ({ HostedZoneId: 'Z35SXDOTRQ7X7K', DNSName: dnsName, EvaluateTargetHealth: true });
  const records =
    routing === 'failover'
      ? [
          { SetIdentifier: 'primary', Failover: 'PRIMARY' as const, AliasTarget: alias(primaryDnsName) },
          { SetIdentifier: 'dr', Failover: 'SECONDARY' as const, AliasTarget: alias(drDnsName) },
        ]
      : [
          { SetIdentifier: 'primary', Weight: 100, AliasTarget: alias(primaryDnsName) },
          { SetIdentifier: 'dr', Weight: 0, AliasTarget: alias(drDnsName) },
        ];
  await route53Client.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: hostedZoneId,
      ChangeBatch: {
        Changes: records.map((record) => ({
          Action: 'CREATE',
          ResourceRecordSet: { Name: RECORD_NAME, Type: 'A', ...record },
        })),
      },
    }),
  );

  const model = await saveClusterModel(ssmClient, {
    ...cluster.model,
    dr: {
      region: DR_REGION,
      launchTemplateId: required(template.LaunchTemplate?.LaunchTemplateId, 'LaunchTemplateId'),
      launchTemplateVersion: '$Latest',
      imageId,
      subnetIds,
      securityGroupIds: [required(group.GroupId, 'GroupId')],
      nodeCount: options.nodeCount ?? 2,
      loadBalancerArn,
      targetGroupArn,
      hostedZoneId,
      recordName: RECORD_NAME,
      routing,
    },
  });
  return { model, loadBalancerArn, listenerArn, targetGroupArn, hostedZoneId, primaryDnsName, drDnsName };
}
