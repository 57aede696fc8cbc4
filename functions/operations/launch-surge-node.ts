import type { _InstanceType, EC2Client, TagSpecification } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { findSurgeNodes, launchInstances, type NodeInstance, tagsOnLaunch, targetGroupsOfNode } from '../aws/ec2';
import { registerTargets } from '../aws/elbv2';
import { imageIdFor } from '../aws/ssm';
import type { ClusterModel } from '../domain/cluster-model';
import { clientTokenFor } from '../domain/launch';
import { CLUSTER_TAG_KEY, EXECUTION_TAG_KEY, ROLE_TAG_KEY, SURGE_ROLE } from '../domain/tags';
import { isWeighted } from '../domain/weights';

export interface LaunchedNode {
  readonly instanceId: string;
  readonly state: string;
  readonly privateIp?: string;
  /** True when a retry found the node an earlier attempt launched. */
  readonly reused: boolean;
  readonly targetGroupArn?: string;
}

/** The ClientToken of an execution's surge launch. */
export function launchClientToken(execution: string): string {
  return clientTokenFor(`${execution}#surge`);
}

function tagSpecifications(model: ClusterModel, execution: string): TagSpecification[] {
  const tags = [
    ...Object.entries(model.surge.tags).map(([Key, Value]) => ({ Key, Value })),
    { Key: CLUSTER_TAG_KEY, Value: model.name },
    { Key: ROLE_TAG_KEY, Value: SURGE_ROLE },
    { Key: EXECUTION_TAG_KEY, Value: execution.slice(0, 256) },
    { Key: 'Name', Value: `${model.name}-surge` },
  ];
  return tagsOnLaunch(tags);
}

/**
 * Launches the execution's surge node from the cluster's launch template and AMI, tagged with the cluster, the
 * surge role and the execution, and registers it in the surge slot with weight 0. A retry finds the node by its
 * execution tag (and passes the same ClientToken), so it never launches a second one.
 */
export async function launchSurgeNode(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient },
  model: ClusterModel,
  execution: string,
): Promise<LaunchedNode> {
  const [existing] = await findSurgeNodes(clients.ec2, model, { execution: execution.slice(0, 256) });
  let node: NodeInstance;
  let reused = true;
  if (existing) {
    node = existing;
  } else {
    reused = false;
    const imageId = await imageIdFor(clients.ssm, model.surge);
    const [instance] = await launchInstances(clients.ec2, {
      MinCount: 1,
      MaxCount: 1,
      LaunchTemplate: {
        LaunchTemplateId: model.surge.launchTemplateId,
        Version: model.surge.launchTemplateVersion,
      },
      ...(imageId ? { ImageId: imageId } : {}),
      ...(model.surge.instanceType ? { InstanceType: model.surge.instanceType as _InstanceType } : {}),
      SubnetId: model.surge.subnetIds[0],
      ClientToken: launchClientToken(execution),
      TagSpecifications: tagSpecifications(model, execution),
    });
    node = {
      instanceId: instance?.InstanceId ?? '',
      state: instance?.State?.Name ?? 'pending',
      ...(instance?.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
      tags: {},
    };
  }

  // In the weighted strategy the surge slot is its own target group: registering there sends it nothing until
  // the slot's weight rises. In the single target group, registering would send traffic, so that waits for a shift.
  const targetGroups = isWeighted(model) ? targetGroupsOfNode(model, { ...node, tags: surgeTags(model) }) : [];
  const targetGroupArn = targetGroups[0];
  if (targetGroupArn) {
    await registerTargets(clients.elbv2, targetGroups, [node.instanceId]);
  }
  return {
    instanceId: node.instanceId,
    state: node.state,
    ...(node.privateIp ? { privateIp: node.privateIp } : {}),
    reused,
    ...(targetGroupArn ? { targetGroupArn } : {}),
  };
}

function surgeTags(model: ClusterModel): Record<string, string> {
  return { [CLUSTER_TAG_KEY]: model.name, [ROLE_TAG_KEY]: SURGE_ROLE };
}
