import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { sfnClient } from '../../functions/aws/clients/sfn';
import { stepFunctionsExecutions } from '../../functions/aws/sfn';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { acquireLock, readLock } from '../../functions/domain/lock';
import { EXECUTION_TAG_KEY } from '../../functions/domain/tags';
import { findDrNodes } from '../../functions/operations/dr-nodes';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import { startMotoExecution } from '../../local/moto-resources';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { drFixture } from '../harness/dr-fixture';
import { useMoto } from '../harness/moto';
import { violatedRegionInvariants } from './invariants';

/**
 * The region half of the fault matrix: a region failover that starts while a drill or a failback holds the DR site,
 * and a failback that starts while a failover runs. After each, the DR site must satisfy the region invariants.
 */
describe('fault matrix: the DR region', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { drClients, prepare, serveDrNodes, drStack, run, dnsServing, liveDrNodes, drLockStore } = drFixture();

  async function expectRegionInvariants(model: ClusterModel) {
    const live = new Set((await liveDrNodes(model)).map((node) => node.instanceId));
    const described = live.size
      ? await drClients().ec2.send(new DescribeInstancesCommand({ InstanceIds: [...live] }))
      : { Reservations: [] };
    const drNodes = (described.Reservations ?? []).flatMap((reservation) =>
      (reservation.Instances ?? []).map((instance) => ({
        instanceId: instance.InstanceId ?? '',
        execution: instance.Tags?.find((tag) => tag.Key === EXECUTION_TAG_KEY)?.Value,
      })),
    );
    const site = { dnsServing: await dnsServing(model), drNodes, nodesNeeded: model.nodes.length };
    expect(await violatedRegionInvariants(site, drLockStore(), model.name)).toEqual([]);
  }

  /**
   * Runs `mode` and, when it reaches the Task `state`, starts a region failover and lets it take the DR lock; the
   * task then answers `answer` (the execution has been stopped by then). Answers both executions.
   */
  async function failoverDuring(
    mode: 'drill' | 'failback',
    state: string,
    answer: Record<string, unknown>,
    serving: ReturnType<typeof serveDrNodes>,
  ) {
    let failover: Promise<LocalExecutionResult> | undefined;
    let failoverHasTheLock = () => {};
    const tookOver = new Promise<void>((resolve) => {
      failoverHasTheLock = resolve;
    });
    const interrupted = await runLocally({
      stack: drStack(),
      input: { cluster: 'test-cluster', mode },
      timeScale: 0.001,
      taskOverrides: {
        [state]: async () => {
          failover ??= run({ mode: 'failover' }, (event) => {
            serving?.(event);
            if (event.type === 'StateExited' && event.state.name === 'Take over the DR lock') failoverHasTheLock();
          });
          await tookOver;
          return answer as never;
        },
      },
    });
    const execution = await (failover ?? Promise.reject(new Error('the failover never started')));
    return { interrupted, failover: execution };
  }

  it('lets a failover started during a drill take the drill over, so DNS never names an empty DR site', async () => {
    // The probe: the failover counted the drill's nodes, launched none, moved DNS, and the drill then tore them down.
    const { cluster, site } = await prepare();
    const serving = serveDrNodes(site.model, cluster.nodePort);
    // The drill's nodes are up and it is polling them when the failover starts; it polls until stopped.
    const { interrupted: drill, failover } = await failoverDuring(
      'drill',
      'Check whether the DR site is ready',
      { ready: false, nodes: [], checkedAt: new Date().toISOString() },
      serving,
    );

    expect(drill.status).toBe('ABORTED');
    expect(failover.status).toBe('SUCCEEDED');
    expect(await dnsServing(site.model)).toBe('dr');
    const nodes = await liveDrNodes(site.model);
    expect(nodes).toHaveLength(2);
    expect(await findDrNodes(drClients().ec2, site.model, failover.executionArn)).toEqual(nodes);
    expect(await readLock(drLockStore(), 'test-cluster')).toBeUndefined();
    await expectRegionInvariants(site.model);
  });

  it('lets a failover started during a failback stop it before its tear-down, and serve from the DR site', async () => {
    const { cluster, site } = await prepare();
    const serving = serveDrNodes(site.model, cluster.nodePort);
    await run({ mode: 'failover' }, serving);
    // The primary region serves again and the failback has moved DNS back; the failover starts as it tears down.
    const { interrupted: failback, failover } = await failoverDuring(
      'failback',
      'Tear down every DR node',
      { gone: false, nodes: [] },
      serving,
    );

    expect(failback.status).toBe('ABORTED');
    expect(failback.path).toContain('Point DNS back at the primary region');
    expect(failover.status).toBe('SUCCEEDED');
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
    expect(await readLock(drLockStore(), 'test-cluster')).toBeUndefined();
    await expectRegionInvariants(site.model);
  });

  it('refuses a failback while a region failover runs, and touches nothing', async () => {
    const { cluster, site } = await prepare();
    await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));
    const running = await startMotoExecution('zerodown-test-cluster-region-failover', 'live-failover');
    await acquireLock(drLockStore(), stepFunctionsExecutions(sfnClient), {
      cluster: 'test-cluster',
      owner: running,
      workflow: 'region-failover',
      leaseSeconds: 3600,
    });

    const failback = await run({ mode: 'failback' });

    expect(failback.status).toBe('FAILED');
    expect(failback.error).toBe('ClusterLockedError');
    expect(failback.path).not.toContain('Point DNS back at the primary region');
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
    expect((await readLock(drLockStore(), 'test-cluster'))?.owner).toBe(running);
    await expectRegionInvariants(site.model);
  });
});
