import {
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateDBInstanceCommand, type RDSClient } from '@aws-sdk/client-rds';
import { ec2Client } from '../functions/aws/clients/ec2';
import { elbv2Client } from '../functions/aws/clients/elbv2';
import { rdsClient } from '../functions/aws/clients/rds';
import { ssmClient } from '../functions/aws/clients/ssm';
import { saveClusterModel } from '../functions/aws/ssm';
import type { ClusterModel, ClusterModelInput } from '../functions/domain/cluster-model';
import { CLUSTER_TAG_KEY, ROLE_TAG_KEY, SLOT_TAG_KEY } from '../functions/domain/tags';
import { type FakeNode, serveNode } from './fake-nodes';
import { freeNodePort } from './moto-server';
import { LOCAL_REGION } from './settings';

export interface MotoClusterOptions {
  readonly name?: string;
  readonly topology?: 'active-active' | 'active-passive';
  /** @default 'weighted-target-groups' */
  readonly strategy?: 'weighted-target-groups' | 'single-target-group';
  /** The port nodes answer on. @default - a free port, so parallel test workers do not collide */
  readonly nodePort?: number;
  /**
   * A second listener (port 9443, "management") with its own target group per slot, as WSO2 API Manager's
   * management port beside its gateway: the model's `additionalListeners`. Weighted strategy only.
   */
  readonly managementListener?: boolean;
  /** Changes applied to the generated model before it is validated and stored. */
  readonly customize?: (model: ClusterModelInput) => ClusterModelInput;
}

export interface MotoCluster {
  readonly model: ClusterModel;
  readonly nodePort: number;
  /** Private IPs of the permanent nodes, by instance id. */
  readonly privateIps: Record<string, string>;
  readonly vpcId: string;
  readonly subnetIds: string[];
  readonly imageId: string;
  readonly loadBalancerArn: string;
  /** Target group ARN by slot name. */
  readonly targetGroups: Record<string, string>;
  /** The management listener and its target group ARN by slot name, when asked for. */
  readonly management?: { readonly listenerArn: string; readonly targetGroups: Record<string, string> };
}

const SLOTS = ['a', 'b'] as const;
const SURGE_SLOT = 'surge';

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`moto returned no ${what}`);
  return value;
}

/** Starts the HTTP side of every permanent node on its private IP. */
export async function serveClusterNodes(cluster: MotoCluster, version = '1.0.0'): Promise<FakeNode[]> {
  return Promise.all(
    cluster.model.nodes.map((node) =>
      serveNode(node.instanceId, cluster.privateIps[node.instanceId] ?? '', cluster.nodePort, version),
    ),
  );
}

/**
 * Builds a two-node cluster in moto as it would look on AWS: a VPC on loopback addresses (127.0.0.0/16, so node IPs
 * are real local addresses), a launch template and AMI, two tagged instances, an ALB with one target group per slot
 * plus a surge slot, and a listener whose weighted forward action serves the active node(s). The model is stored in
 * SSM where the Lambdas look for it.
 */
export async function createMotoCluster(options: MotoClusterOptions = {}): Promise<MotoCluster> {
  const name = options.name ?? 'test-cluster';
  const topology = options.topology ?? 'active-passive';
  const strategy = options.strategy ?? 'weighted-target-groups';
  const nodePort = options.nodePort ?? (await freeNodePort());

  const vpc = await ec2Client.send(new CreateVpcCommand({ CidrBlock: '127.0.0.0/16' }));
  const vpcId = required(vpc.Vpc?.VpcId, 'VpcId');
  const subnetIds: string[] = [];
  for (const [index, zone] of ['a', 'b'].entries()) {
    const subnet = await ec2Client.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: `127.0.${index + 1}.0/24`,
        AvailabilityZone: `${LOCAL_REGION}${zone}`,
      }),
    );
    subnetIds.push(required(subnet.Subnet?.SubnetId, 'SubnetId'));
  }

  const securityGroup = await ec2Client.send(
    new CreateSecurityGroupCommand({
      GroupName: `${name}-orchestration`,
      Description: 'zerodown health checks',
      VpcId: vpcId,
    }),
  );
  const securityGroupId = required(securityGroup.GroupId, 'GroupId');

  const image = await ec2Client.send(
    new RegisterImageCommand({
      Name: `${name}-server-1.0.0`,
      Description: 'server 1.0.0',
      RootDeviceName: '/dev/xvda',
    }),
  );
  const imageId = required(image.ImageId, 'ImageId');
  const template = await ec2Client.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${name}-node`,
      LaunchTemplateData: { ImageId: imageId, InstanceType: 't4g.large' },
    }),
  );
  const launchTemplateId = required(template.LaunchTemplate?.LaunchTemplateId, 'LaunchTemplateId');

  const bySlot: ClusterModelInput['nodes'][number][] = [];
  const privateIps: Record<string, string> = {};
  // The runbook's manager is the passive node in active/passive, so deployments and hotfixes never touch the node
  // that serves; in active/active every node serves, and the first is the manager.
  const managerIndex = topology === 'active-passive' && strategy === 'weighted-target-groups' ? 1 : 0;
  // The manager is launched first, as an operator brings a cluster up: the others sync from it from their start.
  const launchOrder = [managerIndex, ...SLOTS.keys()].filter((index, at, all) => all.indexOf(index) === at);
  for (const index of launchOrder) {
    const slot = SLOTS[index] ?? '';
    const role = index === managerIndex ? 'manager' : 'worker';
    const launched = await ec2Client.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: '$Latest' },
        SubnetId: subnetIds[index],
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: CLUSTER_TAG_KEY, Value: name },
              { Key: ROLE_TAG_KEY, Value: role },
              { Key: SLOT_TAG_KEY, Value: slot },
              { Key: 'Name', Value: `${name}-${slot}` },
            ],
          },
        ],
      }),
    );
    const instanceId = required(launched.Instances?.[0]?.InstanceId, 'InstanceId');
    privateIps[instanceId] = required(launched.Instances?.[0]?.PrivateIpAddress, 'PrivateIpAddress');
    bySlot[index] = { instanceId, role, ...(strategy === 'weighted-target-groups' ? { slot } : {}) };
  }
  const nodes = bySlot.filter((node) => node !== undefined);

  const loadBalancer = await elbv2Client.send(
    new CreateLoadBalancerCommand({ Name: `${name}-alb`, Subnets: subnetIds, Type: 'application' }),
  );
  const loadBalancerArn = required(loadBalancer.LoadBalancers?.[0]?.LoadBalancerArn, 'LoadBalancerArn');

  const groupNames = strategy === 'weighted-target-groups' ? [...SLOTS, SURGE_SLOT] : ['all'];
  const createGroups = async (prefix: string) => {
    const groups: Record<string, string> = {};
    for (const slot of groupNames) {
      const group = await elbv2Client.send(
        new CreateTargetGroupCommand({
          Name: `${prefix}-${slot}`.slice(0, 32),
          Protocol: 'HTTP',
          Port: nodePort,
          VpcId: vpcId,
          TargetType: 'instance',
          HealthCheckPath: '/health',
          HealthCheckIntervalSeconds: 5,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 2,
        }),
      );
      groups[slot] = required(group.TargetGroups?.[0]?.TargetGroupArn, 'TargetGroupArn');
    }
    for (const node of nodes) {
      await elbv2Client.send(
        new RegisterTargetsCommand({
          TargetGroupArn: groups[node.slot ?? 'all'],
          Targets: [{ Id: node.instanceId, Port: nodePort }],
        }),
      );
    }
    return groups;
  };
  const targetGroups = await createGroups(name);

  const weights: Record<string, number> =
    strategy === 'single-target-group'
      ? { all: 1 }
      : topology === 'active-active'
        ? { a: 50, b: 50, surge: 0 }
        : { a: 100, b: 0, surge: 0 };
  const createListener = async (port: number, groups: Record<string, string>) => {
    const listener = await elbv2Client.send(
      new CreateListenerCommand({
        LoadBalancerArn: loadBalancerArn,
        Protocol: 'HTTP',
        Port: port,
        DefaultActions: [
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: Object.entries(groups).map(([slot, arn]) => ({
                TargetGroupArn: arn,
                Weight: weights[slot] ?? 0,
              })),
            },
          },
        ],
      }),
    );
    return required(listener.Listeners?.[0]?.ListenerArn, 'ListenerArn');
  };
  const listenerArn = await createListener(80, targetGroups);
  const management =
    options.managementListener && strategy === 'weighted-target-groups'
      ? await (async () => {
          const groups = await createGroups(`${name}-m`);
          return { listenerArn: await createListener(9443, groups), targetGroups: groups };
        })()
      : undefined;

  const database = await createMotoDatabase(`${name}-db`);
  const generated: ClusterModelInput = {
    name,
    region: LOCAL_REGION,
    topology,
    nodes,
    traffic:
      strategy === 'weighted-target-groups'
        ? {
            strategy,
            listenerArn,
            slots: Object.entries(targetGroups).map(([slot, targetGroupArn]) => ({ name: slot, targetGroupArn })),
            surgeSlot: SURGE_SLOT,
            ...(management ? { additionalListeners: [{ name: 'management', ...management }] } : {}),
          }
        : { strategy, listenerArn, targetGroupArn: required(targetGroups.all, 'target group') },
    network: { vpcId, subnetIds, securityGroupIds: [securityGroupId] },
    surge: { launchTemplateId, launchTemplateVersion: '$Latest', imageId, subnetIds },
    database: { engine: 'rds-instance', identifier: database },
    healthChecks: {
      http: [{ name: 'server health', path: '/health', port: nodePort }],
      version: { path: '/version', port: nodePort },
    },
    commands: {
      patch: { documentName: 'zerodown-test-patch', documentVersion: '1', inputParameter: 'PatchId' },
      upgrade: { documentName: 'zerodown-test-upgrade', documentVersion: '1', inputParameter: 'TargetVersion' },
      deploy: { documentName: 'zerodown-test-deploy', documentVersion: '1', inputParameter: 'Artifact' },
      migrate: { documentName: 'zerodown-test-migrate', documentVersion: '1', inputParameter: 'TargetVersion' },
      syncPause: { documentName: 'zerodown-test-sync', documentVersion: '1', parameters: { Action: ['pause'] } },
      syncResume: { documentName: 'zerodown-test-sync', documentVersion: '1', parameters: { Action: ['resume'] } },
      smokeTest: { documentName: 'zerodown-test-smoke-test', documentVersion: '1', inputParameter: 'Service' },
      expose: { documentName: 'zerodown-test-expose', documentVersion: '1', inputParameter: 'Service' },
    },
  };
  const model = await saveClusterModel(ssmClient, options.customize ? options.customize(generated) : generated);
  return {
    model,
    nodePort,
    privateIps,
    vpcId,
    subnetIds,
    imageId,
    loadBalancerArn,
    targetGroups,
    ...(management ? { management } : {}),
  };
}

/**
 * A database a model names: a DB instance in moto, available at once, which takes snapshots as RDS does. An instance of
 * that name that already exists (a second cluster of the same name in one moto run) is the one.
 */
export async function createMotoDatabase(identifier: string, rds: RDSClient = rdsClient): Promise<string> {
  try {
    await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: identifier,
        Engine: 'postgres',
        DBInstanceClass: 'db.t4g.micro',
        AllocatedStorage: 20,
        MasterUsername: 'zerodown',
        MasterUserPassword: 'not-a-secret-local-only',
        // No automated backups: the snapshots of it are the ones the workflows take.
        BackupRetentionPeriod: 0,
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'DBInstanceAlreadyExistsFault')) throw error;
  }
  return identifier;
}
