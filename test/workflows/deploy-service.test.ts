import { DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { failedCommand } from '../../local/faults';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

const ARTIFACT = 's3://apim-artifacts/orders-api/1.4.0/orders-api.car';

describe('deploy-service', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { prepare, run, expectCleanCluster, failureOf } = workflowFixture({
    stateMachine: 'deploy-service',
    defaultInput: { artifact: ARTIFACT, service: 'orders-api' },
    onCommand: () => undefined,
  });

  it('deploys on the manager, waits for file sync on the worker, smoke-tests every node and exposes', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    // The runbook's manager is the passive node (slot b); the worker in slot a serves.
    const manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId;
    const worker = cluster.model.nodes.find((node) => node.role === 'worker')?.instanceId;
    // File sync has not reached the worker at its first smoke test (moto runs no commands; the failure is injected).
    failedCommand(worker ?? '', { output: 'orders-api: not deployed' }, { times: 1 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands.map((command) => [command.documentName, command.instanceIds])).toEqual([
      ['zerodown-test-deploy', [manager]],
      ['zerodown-test-smoke-test', [worker]],
      ['zerodown-test-smoke-test', [worker]],
      // Every node, in the model's order: slot a (the worker), then slot b (the manager).
      ['zerodown-test-smoke-test', [worker, manager]],
      ['zerodown-test-expose', [manager]],
    ]);
    expect(simulated.commands[0]?.parameters).toEqual({ Artifact: [ARTIFACT] });
    expect(execution.path.filter((name) => name === 'Give file sync more time')).toHaveLength(1);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('exposes the service through a listener rule that follows the cluster weights', async () => {
    const { cluster } = await prepare('active-passive');

    const execution = await run({ expose: false, exposeRule: { pathPatterns: ['/orders/*'], priority: 20 } });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(execution.path).toContain('Expose the service on the load balancer');
    const { Rules } = await elbv2Client.send(
      new DescribeRulesCommand({ ListenerArn: cluster.model.traffic.listenerArn }),
    );
    const rule = Rules?.find((candidate) => !candidate.IsDefault);
    expect(rule?.Priority).toBe('20');
    expect(rule?.Conditions?.[0]?.PathPatternConfig?.Values).toEqual(['/orders/*']);
    expect(rule?.Actions?.[0]?.ForwardConfig?.TargetGroups?.map((group) => group.Weight)).toEqual([100, 0, 0]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('rolls back when file sync never delivers within the sync timeout', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const worker = cluster.model.nodes.find((node) => node.role === 'worker')?.instanceId ?? '';
    failedCommand(worker, { output: 'orders-api: not deployed' });

    const execution = await run({ syncTimeoutSeconds: 60 });

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'FileSyncTimeoutError' });
    expect(execution.cause).toMatch(/^Wait until file sync reaches the worker failed: /);
    // 60 s at one check every 15 s.
    expect(simulated.commands.filter((command) => command.instanceIds[0] === worker)).toHaveLength(4);
    expect(simulated.commands.map((command) => command.documentName)).not.toContain('zerodown-test-expose');
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('rolls back when the smoke test of every node fails, without exposing the service', async () => {
    const { cluster, simulated } = await prepare('active-active');
    const manager = cluster.model.nodes[0]?.instanceId ?? '';
    let smokeTests = 0;
    failedCommand(manager, { output: 'orders-api: HTTP 500 on /orders/health' }, { when: () => ++smokeTests > 1 });

    const execution = await run({});

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(execution.cause).toMatch(/^Check the smoke test of every node failed: .*HTTP 500 on \/orders\/health/);
    expect(simulated.commands.map((command) => command.documentName)).not.toContain('zerodown-test-expose');
    await expectCleanCluster(cluster, 'a=50, b=50, surge=0');
  });

  it('refuses a malformed artifact before touching anything', async () => {
    await prepare('active-passive');
    const execution = await run({ artifact: 'file:///etc/passwd' });
    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(execution.cause).toContain('artifact must be an s3:// URI or an https:// URL');
    expect(execution.path).toEqual(['Validate the request']);
  });
});
