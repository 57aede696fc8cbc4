import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as targets from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { NODE_KIT_COMMAND_KINDS } from '../../functions/domain/cluster-model';
import { CLUSTER_TAG_KEY } from '../../functions/domain/tags';
import { heartbeatInstallCommands, nodeTags } from '../../kits/node/node-kit';
import { ZeroDownCluster } from '../constructs/zerodown-cluster';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag';
import { PROJECT_ROOT } from '../paths';

/** The port the reference node server listens on, for the load balancer, the probes and the heartbeat. */
export const REFERENCE_NODE_PORT = 8080;
/** Where the nodes' AMI comes from: the latest Amazon Linux 2023 for Graviton, as AWS publishes it. */
export const REFERENCE_BASE_IMAGE_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';
const SLOTS = ['a', 'b'] as const;
const SURGE_SLOT = 'surge';

export interface ReferenceClusterStackProps extends StackProps {
  /** The cluster's name. @default 'reference' */
  readonly clusterName?: string;
  /** @default 't4g.small' */
  readonly instanceType?: string;
}

/**
 * A cluster to try zerodown on for real, and zerodown protecting it, in one stack: a VPC (public subnets for the load
 * balancer, private ones for the nodes, with the endpoints zerodown's probes and the nodes' agents use), an
 * Application Load Balancer whose listener weighs one target group per slot and a surge group, a launch template
 * from the latest Amazon Linux 2023 AMI, two nodes running the reference node server and the node kit, and
 * `ZeroDownCluster` wired to all of it. Everything zerodown is given comes from the resources here: no ARN is typed.
 */
export class ReferenceClusterStack extends Stack {
  public readonly cluster: ZeroDownCluster;

  constructor(scope: Construct, id: string, props: ReferenceClusterStackProps = {}) {
    // The zerodown state machines make this template large; unindented it stays well inside CloudFormation's limit.
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const clusterName = props.clusterName ?? 'reference';

    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
    });
    const nodeSubnets = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    // zerodown's probes and the nodes' agents reach AWS without leaving the VPC.
    for (const [name, service] of [
      ['Ssm', ec2.InterfaceVpcEndpointAwsService.SSM],
      ['SsmMessages', ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES],
      ['Ec2Messages', ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES],
      ['Ec2', ec2.InterfaceVpcEndpointAwsService.EC2],
      ['LoadBalancing', ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING],
      ['CloudWatch', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING],
    ] as const) {
      const endpoint = vpc.addInterfaceEndpoint(`${name}Endpoint`, { service, subnets: nodeSubnets });
      Validations.of(endpoint).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: "The endpoint's group admits HTTPS from the VPC's own address range only, which is not known here.",
      });
    }
    vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });

    const logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      lifecycleRules: [{ expiration: Duration.days(30) }],
    });
    Validations.of(logs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the load balancer access logs; logging access to the logs would log itself.',
    });

    const probes = new ec2.SecurityGroup(this, 'ProbeSecurityGroup', {
      vpc,
      description: 'zerodown probes: the Lambda functions that check nodes on their private addresses',
    });
    const balancerGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'The reference cluster load balancer: HTTP from anywhere',
    });
    balancerGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP from anywhere');
    Validations.of(balancerGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'The reference cluster serves a public demo endpoint; put a certificate and WAF in front for more.',
    });
    const nodeGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc,
      description: 'The reference cluster nodes: the node port from the load balancer, the probes and each other',
    });
    nodeGroup.addIngressRule(balancerGroup, ec2.Port.tcp(REFERENCE_NODE_PORT), 'Traffic and health checks');
    nodeGroup.addIngressRule(probes, ec2.Port.tcp(REFERENCE_NODE_PORT), "zerodown's probes");
    nodeGroup.addIngressRule(nodeGroup, ec2.Port.tcp(REFERENCE_NODE_PORT), 'File sync from the manager');

    const balancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: balancerGroup,
      dropInvalidHeaderFields: true,
    });
    balancer.logAccessLogs(logs, 'alb');
    const targetGroup = (slot: string) =>
      new elbv2.ApplicationTargetGroup(this, `TargetGroup${slot[0]?.toUpperCase()}${slot.slice(1)}`, {
        vpc,
        port: REFERENCE_NODE_PORT,
        protocol: elbv2.ApplicationProtocol.HTTP,
        targetType: elbv2.TargetType.INSTANCE,
        deregistrationDelay: Duration.seconds(30),
        healthCheck: {
          path: '/health',
          interval: Duration.seconds(5),
          timeout: Duration.seconds(4),
          healthyThresholdCount: 2,
          unhealthyThresholdCount: 2,
        },
      });
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
    const server = new s3assets.Asset(this, 'NodeServer', { path: bundleNodeServer() });
    const role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `zerodown ${clusterName} reference nodes`,
    });
    server.grantRead(role);
    acknowledgeWildcardResource(
      role,
      `arn:${this.partition}:s3:::${server.s3BucketName}/*`,
      'The node reads the reference node server from the CDK assets bucket, whose object names are content hashes.',
    );
    for (const action of ['s3:GetObject*', 's3:GetBucket*', 's3:List*']) {
      acknowledgeWildcardAction(
        role,
        action,
        'Asset.grantRead gives the read actions CDK uses for assets, on the assets bucket of this account only.',
      );
    }
    const baseImage = ec2.MachineImage.fromSsmParameter(REFERENCE_BASE_IMAGE_PARAMETER);
    // zerodown launches surge and replacement nodes from this parameter, so a new AMI needs no redeploy.
    const imageParameterName = `/zerodown/${clusterName}/ami`;
    new ssm.StringParameter(this, 'ImageParameter', {
      parameterName: imageParameterName,
      description: `The AMI of the ${clusterName} nodes`,
      stringValue: baseImage.getImage(this).imageId,
      dataType: ssm.ParameterDataType.AWS_EC2_IMAGE,
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

    const userData = ec2.UserData.forLinux();
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new ec2.InstanceType(props.instanceType ?? 't4g.small'),
      machineImage: baseImage,
      role,
      securityGroup: nodeGroup,
      userData,
      requireImdsv2: true,
      instanceMetadataTags: true,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });

    const nodes = SLOTS.map((slot, index) => {
      const nodeRole = index === 0 ? ('manager' as const) : ('worker' as const);
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
    const [manager, ...others] = nodes.map((node) => node.instance);
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
      network: { vpcId: vpc.vpcId, subnetIds: nodeSubnets.subnetIds, securityGroupIds: [probes.securityGroupId] },
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
    };
    this.cluster = new ZeroDownCluster(this, 'Cluster', { model, removalPolicy: RemovalPolicy.DESTROY });
    role.addManagedPolicy(this.cluster.nodeKit.nodePolicy);
    userData.addCommands(...referenceNodeBoot(server, managerParameterName, this.cluster));

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

/** The reference node server and its control script, each bundled into one file that needs only Node.js. */
function bundleNodeServer(): string {
  const outdir = path.join(PROJECT_ROOT, '.cache', 'reference-node');
  fs.rmSync(outdir, { recursive: true, force: true });
  buildSync({
    entryPoints: {
      server: path.join(PROJECT_ROOT, 'sandbox', 'node', 'server.ts'),
      control: path.join(PROJECT_ROOT, 'sandbox', 'node', 'control.ts'),
    },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    logLevel: 'error',
  });
  return outdir;
}

/**
 * The first boot of every node, permanent or surge: Node.js 22 from the Amazon Linux repositories, the reference node
 * server as a systemd service (its role from the instance's tags, the manager's address from the parameter), the
 * `zerodown-node` control script the kit's documents call, and the kit's heartbeat.
 */
function referenceNodeBoot(server: s3assets.Asset, managerParameter: string, cluster: ZeroDownCluster): string[] {
  const port = REFERENCE_NODE_PORT;
  return [
    'set -euo pipefail',
    'dnf install -y nodejs22 unzip',
    'install -d -m 0755 /opt/zerodown /var/lib/zerodown',
    `aws s3 cp ${server.s3ObjectUrl} /tmp/zerodown-node.zip`,
    'unzip -o /tmp/zerodown-node.zip -d /opt/zerodown',
    "token=$(curl -sS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)",
    'metadata() { curl -sS -f -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }',
    'instance_id=$(metadata instance-id)',
    'role=$(metadata tags/instance/zerodown:role)',
    'manager_flag=""',
    `if [ "$role" != manager ]; then manager_flag="--manager-url $(aws ssm get-parameter --region ${cluster.model.region} --name ${managerParameter} --query Parameter.Value --output text)"; fi`,
    "cat > /etc/systemd/system/zerodown-node-server.service <<'ZERODOWN_END_OF_FILE'",
    '[Unit]',
    'Description=zerodown reference node server',
    'After=network-online.target',
    'Wants=network-online.target',
    '[Service]',
    'EnvironmentFile=/etc/zerodown/node-server.env',
    `ExecStart=/usr/bin/node-22 /opt/zerodown/server.js --id \${INSTANCE_ID} --ip 0.0.0.0 --port ${port} --data-dir /var/lib/zerodown --db /var/lib/zerodown/database.json --version 1.0.0 --role \${ROLE} $MANAGER_FLAG`,
    'Restart=always',
    '[Install]',
    'WantedBy=multi-user.target',
    'ZERODOWN_END_OF_FILE',
    'install -d -m 0755 /etc/zerodown',
    'printf \'INSTANCE_ID=%s\\nROLE=%s\\nMANAGER_FLAG=%s\\n\' "$instance_id" "$role" "$manager_flag" > /etc/zerodown/node-server.env',
    "cat > /usr/local/bin/zerodown-node <<'ZERODOWN_END_OF_FILE'",
    '#!/bin/sh',
    `ZERODOWN_NODE_URL=http://127.0.0.1:${port} exec /usr/bin/node-22 /opt/zerodown/control.js "$@"`,
    'ZERODOWN_END_OF_FILE',
    'chmod 0755 /usr/local/bin/zerodown-node',
    'systemctl daemon-reload',
    'systemctl enable --now zerodown-node-server.service',
    ...heartbeatInstallCommands(cluster.model).filter((line) => line !== 'set -eu'),
  ];
}
