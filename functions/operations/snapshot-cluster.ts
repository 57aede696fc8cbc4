import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { describeInstances, findSurgeNodes, type NodeInstance } from '../aws/ec2';
import { readClusterTargetHealth, readWeights } from '../aws/elbv2';
import { type ClusterModel, targetGroupsOf } from '../domain/cluster-model';
import type { ClusterSnapshot, NodeSnapshot } from '../domain/snapshot';
import { isWeighted, targetStateIn } from '../domain/weights';
import { reportedVersion } from './node-checks';

async function versionOf(model: ClusterModel, node: NodeInstance | undefined): Promise<string | null> {
  if (!node?.privateIp || node.state !== 'running') return null;
  return reportedVersion(model, node.privateIp);
}

/**
 * Everything rollback needs to put the cluster back: the weights, each node's state, target health and version,
 * and which nodes serve (the capacity guard's baseline).
 */
export async function snapshotCluster(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  now: () => Date = () => new Date(),
): Promise<ClusterSnapshot> {
  const takenAt = now().toISOString();
  const [weights, health, instances, surge] = await Promise.all([
    isWeighted(model) ? readWeights(clients.elbv2, model) : Promise.resolve([]),
    readClusterTargetHealth(clients.elbv2, model),
    describeInstances(
      clients.ec2,
      model.nodes.map((node) => node.instanceId),
    ),
    findSurgeNodes(clients.ec2, model),
  ]);

  const nodes = await Promise.all(
    model.nodes.map(async (node): Promise<NodeSnapshot> => {
      const instance = instances.find((candidate) => candidate.instanceId === node.instanceId);
      const targetGroups = targetGroupsOf(model, node);
      const targetGroupArn = targetGroups[0] ?? '';
      const target = targetStateIn(health, targetGroups, node.instanceId);
      const weight = isWeighted(model)
        ? (weights.find((entry) => entry.targetGroupArn === targetGroupArn)?.weight ?? 0)
        : target
          ? 1
          : 0;
      return {
        instanceId: node.instanceId,
        role: node.role,
        ...(node.slot ? { slot: node.slot } : {}),
        targetGroupArn,
        state: instance?.state ?? 'not-found',
        ...(instance?.privateIp ? { privateIp: instance.privateIp } : {}),
        targetHealth: target?.state ?? 'unregistered',
        serving: weight > 0 && target?.state === 'healthy',
        version: await versionOf(model, instance),
      };
    }),
  );

  const servingHealthyNodes = nodes.filter((node) => node.serving).length;
  return {
    cluster: model.name,
    takenAt,
    strategy: model.traffic.strategy,
    weights,
    nodes,
    servingHealthyNodes,
    surgeNodes: surge.map((node) => ({ instanceId: node.instanceId, state: node.state })),
  };
}
