import type { ClusterModel } from '../../functions/domain/cluster-model';
import type { ClusterSnapshot, NodeSnapshot } from '../../functions/domain/snapshot';

/** A healthy active/passive cluster as the snapshot sees it: slot a takes all the traffic, slot b none. */
export function activePassiveSnapshot(model: ClusterModel): ClusterSnapshot {
  const nodes = model.nodes.map(
    (node): NodeSnapshot => ({
      instanceId: node.instanceId,
      role: node.role,
      slot: node.slot,
      targetGroupArn: 'arn',
      state: 'running',
      targetHealth: 'healthy',
      serving: node.slot === 'a',
      version: '4.2.0',
    }),
  );
  return {
    cluster: model.name,
    takenAt: '2026-11-30T10:00:00.000Z',
    strategy: 'weighted-target-groups',
    weights: [
      { slot: 'a', targetGroupArn: 'arn-a', weight: 100 },
      { slot: 'b', targetGroupArn: 'arn-b', weight: 0 },
      { slot: 'surge', targetGroupArn: 'arn-surge', weight: 0 },
    ],
    nodes,
    servingHealthyNodes: 1,
    surgeNodes: [],
  };
}
