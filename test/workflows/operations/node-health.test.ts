import { StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { HealthCheckFailedError, NodeLostError } from '../../../functions/domain/errors';
import { checkNodeReady } from '../../../functions/operations/check-node-ready';
import { launchSurgeNode } from '../../../functions/operations/launch-surge-node';
import { verifyNode } from '../../../functions/operations/verify-node';
import { serveNode } from '../../../local/fake-nodes';
import { ssmAgentsOnline, unhealthyTarget } from '../../../local/faults';
import { createMotoCluster, serveClusterNodes } from '../../../local/moto-cluster';
import { useFakeNodes, useFaults } from '../../harness/cleanup';
import { useMoto } from '../../harness/moto';

const clients = { ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient };
const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';

describe('verifyNode', () => {
  useMoto();
  useFaults();
  useFakeNodes();

  it('passes a node whose HTTP checks and target are healthy, and reports each check', async () => {
    const cluster = await createMotoCluster();
    const [active] = await serveClusterNodes(cluster, '4.2.0');

    const result = await verifyNode(clients, cluster.model, { instanceId: active?.instanceId ?? '' });

    expect(result.passed).toBe(true);
    expect(result.checks.map((check) => [check.check, check.passed])).toEqual([
      ['server health', true],
      ['target health', true],
    ]);
    expect(active?.requests).toBe(1);
  });

  it('fails with HealthCheckFailedError naming the HTTP check that failed', async () => {
    const cluster = await createMotoCluster();
    const [active] = await serveClusterNodes(cluster);
    if (active) active.healthStatus = 503;

    await expect(verifyNode(clients, cluster.model, { instanceId: active?.instanceId ?? '' })).rejects.toThrow(
      new RegExp(`Node ${active?.instanceId} failed "server health": expected HTTP 200, got 503`),
    );
  });

  it('fails when the node does not answer at all', async () => {
    const cluster = await createMotoCluster();
    const error = await verifyNode(clients, cluster.model, {
      instanceId: cluster.model.nodes[0]?.instanceId ?? '',
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HealthCheckFailedError);
    expect((error as Error).message).toMatch(/"server health": no answer from http:\/\/127\.0\.\d+\.\d+:\d+\/health/);
  });

  it('fails on the target health the load balancer reports', async () => {
    // moto never reports an unhealthy target; the state is injected.
    const cluster = await createMotoCluster();
    const [active] = await serveClusterNodes(cluster);
    unhealthyTarget(active?.instanceId ?? '');

    await expect(verifyNode(clients, cluster.model, { instanceId: active?.instanceId ?? '' })).rejects.toThrow(
      /"target health": unhealthy \(Target.FailedHealthChecks\)/,
    );
  });

  it('checks the version the workflow rolls out, and the body text', async () => {
    const cluster = await createMotoCluster({
      customize: (model) => ({
        ...model,
        healthChecks: {
          ...model.healthChecks,
          http: [
            ...model.healthChecks.http,
            { name: 'version', path: '/version', port: model.healthChecks.http[0]?.port ?? 0, expectVersion: true },
            { name: 'ready text', path: '/health', port: model.healthChecks.http[0]?.port ?? 0, bodyContains: 'OK' },
          ],
        },
      }),
    });
    const [active] = await serveClusterNodes(cluster, '4.2.0');
    const instanceId = active?.instanceId ?? '';

    await expect(verifyNode(clients, cluster.model, { instanceId, expectedVersion: '4.2.0' })).resolves.toMatchObject({
      passed: true,
    });
    await expect(verifyNode(clients, cluster.model, { instanceId, expectedVersion: '4.3.0' })).rejects.toThrow(
      /"version": expected version 4.3.0/,
    );
    if (active) active.healthBody = 'starting';
    await expect(verifyNode(clients, cluster.model, { instanceId })).rejects.toThrow(
      /"ready text": body does not contain "OK"/,
    );
  });

  it('fails with NodeLostError for a terminated node', async () => {
    const cluster = await createMotoCluster();
    const instanceId = cluster.model.nodes[1]?.instanceId ?? '';
    await ec2Client.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await expect(verifyNode(clients, cluster.model, { instanceId })).rejects.toThrow(NodeLostError);
  });
});

describe('checkNodeReady', () => {
  useMoto();
  useFaults();
  useFakeNodes();

  it('reports a surge node ready once running, its agent online, its target healthy and its checks passing', async () => {
    const cluster = await createMotoCluster();
    const surge = await launchSurgeNode(clients, cluster.model, EXECUTION);
    // moto does not implement DescribeInstanceInformation; the agent's answer is injected.
    ssmAgentsOnline();

    const before = await checkNodeReady(clients, cluster.model, { instanceId: surge.instanceId });
    expect(before).toMatchObject({ ready: false, ssmAgent: 'Online' });
    expect(before.waitingFor).toMatch(/"server health" \(no answer/);

    await serveNode(surge.instanceId, surge.privateIp ?? '', cluster.nodePort);
    const after = await checkNodeReady(clients, cluster.model, { instanceId: surge.instanceId });
    expect(after).toMatchObject({ ready: true, instanceState: 'running', ssmAgent: 'Online' });
    expect(after.checks.map((check) => check.check)).toEqual(['server health', 'target health']);
  });

  it('waits for the SSM agent before running any check', async () => {
    const cluster = await createMotoCluster();
    const surge = await launchSurgeNode(clients, cluster.model, EXECUTION);
    const node = await serveNode(surge.instanceId, surge.privateIp ?? '', cluster.nodePort);
    ssmAgentsOnline(() => false);

    const readiness = await checkNodeReady(clients, cluster.model, { instanceId: surge.instanceId });

    expect(readiness).toMatchObject({
      ready: false,
      waitingFor: 'the SSM agent to come online (it is ConnectionLost)',
    });
    expect(node.requests).toBe(0);
  });

  it('waits for a stopped node to run', async () => {
    const cluster = await createMotoCluster();
    const instanceId = cluster.model.nodes[1]?.instanceId ?? '';
    await ec2Client.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));

    const readiness = await checkNodeReady(clients, cluster.model, { instanceId });

    expect(readiness).toMatchObject({ ready: false, instanceState: 'stopped' });
  });
});
