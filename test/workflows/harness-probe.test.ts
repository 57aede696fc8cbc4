import { DescribeInstancesCommand, type DescribeInstancesCommandOutput } from '@aws-sdk/client-ec2';
import { DescribeListenersCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { injectError, rewriteOutput, ssmThrottling } from '../../local/faults';
import { runLocally } from '../../local/local-sfn';
import { createMotoCluster } from '../../local/moto-cluster';
import { useFaults } from '../harness/cleanup';
import { PROBE_MAX_ATTEMPTS, PROBE_RECHECK_SECONDS } from '../harness/fixtures/probe-stack';
import { useMoto } from '../harness/moto';
import { synthesizedApp } from '../harness/synth';
import { HARNESS_PROBE_STACK } from '../harness/test-app';

/**
 * The harness proves itself: the synthesized probe state machine (Lambda tasks, Retry, Catch, Map, Wait and a
 * bounded Choice loop) runs locally with its real handler against moto.
 */
describe('harness probe state machine', () => {
  useMoto();
  useFaults();
  const probeStack = () => synthesizedApp().stack(HARNESS_PROBE_STACK);

  /** moto has no pending or stopped instances of its own, so the reads of one node are rewritten. */
  function reportInstanceState(
    instanceId: string,
    state: { Name: 'pending' | 'stopped'; Code: number },
    times?: number,
  ) {
    return rewriteOutput<DescribeInstancesCommandOutput, { InstanceIds?: string[] }>(
      ec2Client,
      'DescribeInstancesCommand',
      (output) => ({
        ...output,
        Reservations: output.Reservations?.map((reservation) => ({
          ...reservation,
          Instances: reservation.Instances?.map((instance) => ({ ...instance, State: state })),
        })),
      }),
      { times, when: (input) => input.InstanceIds?.[0] === instanceId },
    );
  }

  it('reads the cluster model and every node from moto and succeeds', async () => {
    // Prepare
    const cluster = await createMotoCluster();

    // Act
    const execution = await runLocally({ stack: probeStack(), input: { cluster: cluster.model.name } });

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const output = execution.output as { nodes: { node: { instanceId: string; state: string } }[] };
    expect(output.nodes.map((item) => item.node)).toEqual(
      cluster.model.nodes.map((node) => ({ instanceId: node.instanceId, state: 'running' })),
    );
    expect(execution.events.filter((event) => event.type === 'MapIterationSucceeded')).toHaveLength(2);
    expect(execution.path).not.toContain('Wait before rereading nodes');
  });

  it('builds a moto cluster whose listener weights serve the active node', async () => {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    const listeners = await elbv2Client.send(
      new DescribeListenersCommand({ ListenerArns: [cluster.model.traffic.listenerArn] }),
    );
    const weights = listeners.Listeners?.[0]?.DefaultActions?.[0]?.ForwardConfig?.TargetGroups?.map((group) => [
      group.TargetGroupArn,
      group.Weight,
    ]);
    expect(weights).toEqual([
      [cluster.targetGroups.a, 100],
      [cluster.targetGroups.b, 0],
      [cluster.targetGroups.surge, 0],
    ]);
    const instances = await ec2Client.send(
      new DescribeInstancesCommand({ InstanceIds: cluster.model.nodes.map((node) => node.instanceId) }),
    );
    const addresses = instances.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.PrivateIpAddress);
    expect(addresses).toHaveLength(2);
    for (const address of addresses ?? []) expect(address).toMatch(/^127\.0\.[12]\.\d+$/);
  });

  it('loops through the scaled Wait until every node runs', async () => {
    // Prepare: the first read of the worker says "pending".
    const cluster = await createMotoCluster();
    const worker = cluster.model.nodes[1]?.instanceId ?? '';
    const fault = reportInstanceState(worker, { Name: 'pending', Code: 0 }, 1);

    // Act
    const execution = await runLocally({
      stack: probeStack(),
      input: { cluster: cluster.model.name },
      timeScale: 0.01,
    });

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(fault.hits).toBe(1);
    expect(execution.path.filter((name) => name === 'Wait before rereading nodes')).toHaveLength(1);
    expect(execution.path.filter((name) => name === 'Read every node')).toHaveLength(2);
    // The 5 s wait runs at 1/100 scale.
    expect(execution.waitMs['Wait before rereading nodes']).toBe(PROBE_RECHECK_SECONDS * 1000 * 0.01);
  });

  it('gives up with a named error when the attempt budget runs out', async () => {
    const cluster = await createMotoCluster();
    const worker = cluster.model.nodes[1]?.instanceId ?? '';
    reportInstanceState(worker, { Name: 'stopped', Code: 80 });

    const execution = await runLocally({ stack: probeStack(), input: { cluster: cluster.model.name } });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('NodesNotRunningError');
    expect(execution.path.filter((name) => name === 'Read every node')).toHaveLength(PROBE_MAX_ATTEMPTS);
    expect(execution.path.at(-1)).toBe('Fail because nodes never all ran');
  });

  it('lets the SDK absorb a short burst of throttling without a state retry', async () => {
    const cluster = await createMotoCluster();
    const throttle = injectError(ssmClient, 'GetParametersCommand', ssmThrottling, { times: 2 });

    const execution = await runLocally({ stack: probeStack(), input: { cluster: cluster.model.name } });

    expect(execution.status).toBe('SUCCEEDED');
    expect(throttle.hits).toBe(2);
    expect(execution.events.filter((event) => event.type === 'StateRetried')).toHaveLength(0);
  });

  it('retries a task that failed with a named transient error', async () => {
    // Prepare: the first call fails with throttling after the SDK's own retries are spent.
    const cluster = await createMotoCluster();
    const throttle = injectError(ssmClient, 'GetParametersCommand', ssmThrottling, {
      times: 1,
      sdkRetriesExhausted: true,
    });

    // Act
    const execution = await runLocally({ stack: probeStack(), input: { cluster: cluster.model.name } });

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(throttle.hits).toBe(1);
    const retried = execution.events.filter((event) => event.type === 'StateRetried');
    expect(retried.map((event) => ('state' in event ? event.state.name : ''))).toEqual(['Describe cluster']);
  });

  it('catches a named error from the handler and ends in the matching Fail state', async () => {
    const execution = await runLocally({ stack: probeStack(), input: { cluster: 'no-such-cluster' } });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ClusterNotFoundError');
    expect(execution.path.at(-1)).toBe('Fail because the cluster is unknown');
    // The Cause is what Lambda sends: a JSON document with the error type and message.
    const cause = JSON.parse(execution.cause ?? '{}') as { errorType?: string; errorMessage?: string };
    expect(cause.errorType).toBe('ClusterNotFoundError');
    expect(cause.errorMessage).toContain('/zerodown/clusters/no-such-cluster');
  });
});
