import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { describeWeights } from '../../../functions/domain/weights';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { snapshotCluster } from '../../../functions/operations/snapshot-cluster';
import { unhealthyTarget } from '../../../local/faults';
import { createMotoCluster, serveClusterNodes } from '../../../local/moto-cluster';
import { useFakeNodes, useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const clients = { ec2: ec2Client, elbv2: elbv2Client };

describe('snapshotCluster', () => {
  useMoto();
  useFaults();
  useFakeNodes();

  it('records weights, node states, target health and versions', async () => {
    // Prepare
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    // The runbook's manager is the passive node: slot a serves as the worker, slot b is the manager.
    const [active, passive] = await serveClusterNodes(cluster, '4.2.0');
    if (passive) passive.version = '4.2.0-hotfix1';

    // Act
    const snapshot = await snapshotCluster(clients, cluster.model);

    // Assess
    expect(describeWeights(snapshot.weights)).toBe('a=100, b=0, surge=0');
    expect(snapshot.nodes).toEqual([
      expect.objectContaining({
        instanceId: active?.instanceId,
        role: 'worker',
        slot: 'a',
        state: 'running',
        targetHealth: 'healthy',
        serving: true,
        version: '4.2.0',
      }),
      expect.objectContaining({
        instanceId: passive?.instanceId,
        role: 'manager',
        slot: 'b',
        state: 'running',
        targetHealth: 'healthy',
        serving: false,
        version: '4.2.0-hotfix1',
      }),
    ]);
    expect(snapshot.servingHealthyNodes).toBe(1);
    expect(snapshot.surgeNodes).toEqual([]);
  });

  it('counts both nodes of an active/active cluster as the baseline', async () => {
    const cluster = await createMotoCluster({ topology: 'active-active' });
    await serveClusterNodes(cluster);
    expect((await snapshotCluster(clients, cluster.model)).servingHealthyNodes).toBe(2);
  });

  it('records a silent node as version null and an unhealthy target as not serving', async () => {
    const cluster = await createMotoCluster({ topology: 'active-active' });
    const [, second] = cluster.model.nodes;
    unhealthyTarget(second?.instanceId ?? '');

    const snapshot = await snapshotCluster(clients, cluster.model);

    expect(snapshot.nodes.map((node) => node.version)).toEqual([null, null]);
    expect(snapshot.nodes[1]).toMatchObject({ targetHealth: 'unhealthy', serving: false });
    expect(snapshot.servingHealthyNodes).toBe(1);
  });

  it('lists surge nodes left over from an interrupted run', async () => {
    const cluster = await createMotoCluster();
    const leftover = await launchSurgeNode(
      { ...clients, ssm: ssmClient },
      cluster.model,
      'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:old',
    );
    expect((await snapshotCluster(clients, cluster.model)).surgeNodes).toEqual([
      { instanceId: leftover.instanceId, state: 'running' },
    ]);
  });
});
