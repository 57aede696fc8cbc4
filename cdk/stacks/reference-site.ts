import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { buildSync } from 'esbuild';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag';
import { PROJECT_ROOT } from '../paths';

/**
 * The parts a reference site is built from, shared by the primary reference cluster and its DR site so both regions
 * get the same network, load balancer and nodes. Each part is created directly in the stack it is given, under the id
 * it always had there: moving code here leaves the primary stack's logical ids, and so its deployed resources, as
 * they were.
 */

/** The port the reference node server listens on, for the load balancer, the probes and the heartbeat. */
export const REFERENCE_NODE_PORT = 8080;
/** Where the nodes' AMI comes from: the latest Amazon Linux 2023 for Graviton, as AWS publishes it. */
export const REFERENCE_BASE_IMAGE_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

export interface ReferenceNetwork {
  readonly vpc: ec2.Vpc;
  /** The private subnets the nodes run in, and the endpoints live in. */
  readonly nodeSubnets: ec2.SelectedSubnets;
}

/**
 * A VPC over two zones: public subnets for the load balancer, private ones for the nodes behind one NAT gateway, the
 * interface endpoints zerodown's probes and the nodes' agents use, and gateway endpoints for S3 and DynamoDB.
 */
export function referenceNetwork(scope: Construct): ReferenceNetwork {
  const vpc = new ec2.Vpc(scope, 'Vpc', {
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
  return { vpc, nodeSubnets };
}

export interface ReferenceSecurityGroups {
  /** For zerodown's functions that check nodes on their private addresses. */
  readonly probes: ec2.SecurityGroup;
  readonly balancer: ec2.SecurityGroup;
  readonly nodes: ec2.SecurityGroup;
}

/**
 * The probes', the load balancer's and the nodes' groups. The nodes admit the node port from the load balancer and the
 * probes, and, where the nodes sync files from the manager, from each other.
 */
export function referenceSecurityGroups(
  scope: Construct,
  vpc: ec2.IVpc,
  nodes: { description: string; fileSync: boolean },
): ReferenceSecurityGroups {
  const probes = new ec2.SecurityGroup(scope, 'ProbeSecurityGroup', {
    vpc,
    description: 'zerodown probes: the Lambda functions that check nodes on their private addresses',
  });
  const balancer = new ec2.SecurityGroup(scope, 'LoadBalancerSecurityGroup', {
    vpc,
    description: 'The reference cluster load balancer: HTTP from anywhere',
  });
  balancer.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP from anywhere');
  Validations.of(balancer).acknowledge({
    id: 'AwsSolutions-EC23',
    reason: 'The reference cluster serves a public demo endpoint; put a certificate and WAF in front for more.',
  });
  const nodeGroup = new ec2.SecurityGroup(scope, 'NodeSecurityGroup', { vpc, description: nodes.description });
  nodeGroup.addIngressRule(balancer, ec2.Port.tcp(REFERENCE_NODE_PORT), 'Traffic and health checks');
  nodeGroup.addIngressRule(probes, ec2.Port.tcp(REFERENCE_NODE_PORT), "zerodown's probes");
  if (nodes.fileSync) {
    nodeGroup.addIngressRule(nodeGroup, ec2.Port.tcp(REFERENCE_NODE_PORT), 'File sync from the manager');
  }
  return { probes, balancer, nodes: nodeGroup };
}

/** An internet-facing Application Load Balancer in the public subnets, logging its access to a bucket of its own. */
export function referenceLoadBalancer(
  scope: Construct,
  vpc: ec2.IVpc,
  securityGroup: ec2.ISecurityGroup,
): elbv2.ApplicationLoadBalancer {
  const logs = new s3.Bucket(scope, 'AccessLogs', {
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
  const balancer = new elbv2.ApplicationLoadBalancer(scope, 'LoadBalancer', {
    vpc,
    internetFacing: true,
    securityGroup,
    dropInvalidHeaderFields: true,
  });
  balancer.logAccessLogs(logs, 'alb');
  return balancer;
}

/** A target group of instances on the node port, health-checked on `/health` every 5 s. */
export function referenceTargetGroup(scope: Construct, id: string, vpc: ec2.IVpc): elbv2.ApplicationTargetGroup {
  return new elbv2.ApplicationTargetGroup(scope, id, {
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
}

export interface ReferenceNodeTemplate {
  /** The reference node server, fetched by each node at boot. */
  readonly server: s3assets.Asset;
  readonly role: iam.Role;
  /** Empty until the site adds its boot commands (see referenceNodeBoot). */
  readonly userData: ec2.UserData;
  readonly launchTemplate: ec2.LaunchTemplate;
  /** The parameter, in the site's region, that holds the AMI zerodown launches nodes from. */
  readonly imageParameterName: string;
}

/**
 * What every node of a site launches from: the reference node server as an asset and a role that may read it, the
 * site's AMI parameter (the latest Amazon Linux 2023 for Graviton, as AWS publishes it in that region), and a launch
 * template with IMDSv2 only, instance metadata tags on and an encrypted root volume.
 */
export function referenceNodeTemplate(
  scope: Construct,
  options: {
    clusterName: string;
    instanceType: string;
    securityGroup: ec2.ISecurityGroup;
    roleDescription: string;
    imageDescription: string;
  },
): ReferenceNodeTemplate {
  const server = new s3assets.Asset(scope, 'NodeServer', { path: bundleNodeServer() });
  const role = new iam.Role(scope, 'NodeRole', {
    assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
    description: options.roleDescription,
  });
  server.grantRead(role);
  acknowledgeWildcardResource(
    role,
    `arn:${Stack.of(scope).partition}:s3:::${server.s3BucketName}/*`,
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
  // zerodown launches surge, replacement and DR nodes from this parameter, so a new AMI needs no redeploy.
  const imageParameterName = `/zerodown/${options.clusterName}/ami`;
  new ssm.StringParameter(scope, 'ImageParameter', {
    parameterName: imageParameterName,
    description: options.imageDescription,
    stringValue: baseImage.getImage(scope).imageId,
    dataType: ssm.ParameterDataType.AWS_EC2_IMAGE,
  });
  const userData = ec2.UserData.forLinux();
  const launchTemplate = new ec2.LaunchTemplate(scope, 'LaunchTemplate', {
    instanceType: new ec2.InstanceType(options.instanceType),
    machineImage: baseImage,
    role,
    securityGroup: options.securityGroup,
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
  return { server, role, userData, launchTemplate, imageParameterName };
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

export interface ReferenceNodeBootOptions {
  /**
   * Where a node that is not the manager reads the manager's address to sync from. A DR node has no manager to sync
   * from. @default the node starts without one
   */
  readonly managerAddress?: { readonly parameterName: string; readonly region: string };
  /** Run last, once the node server runs (the node kit's heartbeat). @default none */
  readonly thenRun?: readonly string[];
}

/**
 * The first boot of a node: Node.js 22 from the Amazon Linux repositories, the reference node server as a systemd
 * service (its role from the instance's `zerodown:role` tag, the manager's address from the parameter), and the
 * `zerodown-node` control script the kit's documents call.
 */
export function referenceNodeBoot(server: s3assets.Asset, options: ReferenceNodeBootOptions = {}): string[] {
  const port = REFERENCE_NODE_PORT;
  const manager = options.managerAddress;
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
    ...(manager
      ? [
          `if [ "$role" != manager ]; then manager_flag="--manager-url $(aws ssm get-parameter --region ${manager.region} --name ${manager.parameterName} --query Parameter.Value --output text)"; fi`,
        ]
      : []),
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
    ...(options.thenRun ?? []),
  ];
}
