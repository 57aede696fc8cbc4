import { CreateImageCommand, DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { findSurgeNodes } from '../../../functions/aws/ec2';
import { CapacityGuardError, NotASurgeNodeError } from '../../../functions/domain/errors';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { retireSurgeNode } from '../../../functions/operations/retire-node';
import { shiftTraffic } from '../../../functions/operations/shift-traffic';
import { createMotoCluster } from '../../../local/moto-cluster';
import { useMoto } from '../../harness/moto';

const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';

async function surgeTargets(targetGroupArn: string) {
  const health = await elbv2Client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (health.TargetHealthDescriptions ?? []).map((d) => `${d.Target?.Id}:${d.TargetHealth?.State}`);
}

describe('launchSurgeNode', () => {
  useMoto();

  it('launches from the launch template, tagged, and registered in the surge slot with weight 0', async () => {
    const cluster = await createMotoCluster();

    const node = await launchSurgeNode(clients, cluster.model, EXECUTION);

    expect(node.reused).toBe(false);
    const described = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [node.instanceId] }));
    const instance = described.Reservations?.[0]?.Instances?.[0];
    expect(instance?.ImageId).toBe(cluster.imageId);
    expect(instance?.SubnetId).toBe(cluster.subnetIds[0]);
    expect(Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      'zerodown:cluster': 'test-cluster',
      'zerodown:role': 'surge',
      'zerodown:execution': EXECUTION,
    });
    expect(await surgeTargets(cluster.targetGroups.surge ?? '')).toEqual([`${node.instanceId}:healthy`]);
  });

  it('returns the same instance when retried, and never launches a second one', async () => {
    const cluster = await createMotoCluster();

    const first = await launchSurgeNode(clients, cluster.model, EXECUTION);
    const retried = await launchSurgeNode(clients, cluster.model, EXECUTION);

    expect(retried).toMatchObject({ instanceId: first.instanceId, reused: true });
    expect(await findSurgeNodes(ec2Client, cluster.model)).toHaveLength(1);
  });

  it('takes the AMI from the image parameter when the model names one', async () => {
    const cluster = await createMotoCluster({
      customize: (model) => ({ ...model, surge: { ...model.surge, imageId: undefined, imageParameter: '/apim/ami' } }),
    });
    // A newer AMI, baked from a builder instance, published through the parameter.
    const builder = await ec2Client.send(
      new RunInstancesCommand({ ImageId: cluster.imageId, MinCount: 1, MaxCount: 1 }),
    );
    const image = await ec2Client.send(
      new CreateImageCommand({ InstanceId: builder.Instances?.[0]?.InstanceId ?? '', Name: 'server-1.1.0' }),
    );
    await ssmClient.send(new PutParameterCommand({ Name: '/apim/ami', Value: image.ImageId ?? '', Type: 'String' }));

    const node = await launchSurgeNode(clients, cluster.model, EXECUTION);

    const described = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [node.instanceId] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.ImageId).toBe(image.ImageId);
  });
});

describe('retireSurgeNode', () => {
  useMoto();

  it('deregisters, terminates and reports the surge node terminated, each step safe to repeat', async () => {
    const cluster = await createMotoCluster();
    const node = await launchSurgeNode(clients, cluster.model, EXECUTION);
    const request = (action: 'deregister' | 'terminate' | 'status') => ({ instanceId: node.instanceId, action });

    const deregistered = await retireSurgeNode(clients, cluster.model, request('deregister'));
    expect(deregistered.drainSeconds).toBe(30);
    expect(await surgeTargets(cluster.targetGroups.surge ?? '')).toEqual([]);
    expect((await retireSurgeNode(clients, cluster.model, request('deregister'))).drainSeconds).toBe(0);

    expect((await retireSurgeNode(clients, cluster.model, request('terminate'))).state).toBe('shutting-down');
    expect((await retireSurgeNode(clients, cluster.model, request('terminate'))).terminated).toBe(true);
    expect(await retireSurgeNode(clients, cluster.model, request('status'))).toMatchObject({ terminated: true });
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
  });

  it('refuses a permanent node of the cluster', async () => {
    const cluster = await createMotoCluster();
    const permanent = cluster.model.nodes[0]?.instanceId ?? '';

    await expect(
      retireSurgeNode(clients, cluster.model, { instanceId: permanent, action: 'terminate' }),
    ).rejects.toThrow(NotASurgeNodeError);
    const described = await ec2Client.send(new DescribeInstancesCommand({ InstanceIds: [permanent] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('running');
  });

  it('refuses an instance that is not tagged as a surge node of this cluster', async () => {
    const cluster = await createMotoCluster();
    const stranger = await ec2Client.send(
      new RunInstancesCommand({ ImageId: cluster.imageId, MinCount: 1, MaxCount: 1 }),
    );
    const instanceId = stranger.Instances?.[0]?.InstanceId ?? '';

    await expect(retireSurgeNode(clients, cluster.model, { instanceId, action: 'terminate' })).rejects.toThrow(
      `Refusing to retire ${instanceId}: it is not tagged as a surge node of cluster "test-cluster"`,
    );
  });

  it('refuses to deregister a surge node that still has traffic', async () => {
    const cluster = await createMotoCluster();
    const node = await launchSurgeNode(clients, cluster.model, EXECUTION);
    await shiftTraffic(elbv2Client, cluster.model, { weights: { surge: 100, a: 0 } });

    await expect(
      retireSurgeNode(clients, cluster.model, { instanceId: node.instanceId, action: 'deregister' }),
    ).rejects.toThrow(CapacityGuardError);
  });
});
