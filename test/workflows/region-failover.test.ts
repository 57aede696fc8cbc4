import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { drStackIdFor } from '../../cdk/app';
import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { clientsIn } from '../../functions/aws/clients/regional';
import { route53Client } from '../../functions/aws/clients/route53';
import { sfnClient } from '../../functions/aws/clients/sfn';
import { dynamoDbLockStore } from '../../functions/aws/dynamodb';
import { readDnsState } from '../../functions/aws/route53';
import { stepFunctionsExecutions } from '../../functions/aws/sfn';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { acquireLock, readLock } from '../../functions/domain/lock';
import { findDrNodes } from '../../functions/operations/dr-nodes';
import { serveNode } from '../../local/fake-nodes';
import { unhealthyTarget } from '../../local/faults';
import { type LocalExecutionOptions, type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import { createMotoCluster } from '../../local/moto-cluster';
import { createMotoDrSite, DR_REGION } from '../../local/moto-dr';
import { startMotoExecution } from '../../local/moto-resources';
import { simulateNodes } from '../../local/simulated-nodes';
import { provisionStackResources } from '../../local/stack-resources';
import { resourcesOfType } from '../../local/template';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { synthesizedApp } from '../harness/synth';

describe('region-failover', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const drClients = () => clientsIn(DR_REGION);

  async function prepare(routing: 'failover' | 'weighted' = 'failover') {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    await simulateNodes(cluster, { version: '1.0.0' });
    const site = await createMotoDrSite(cluster, { routing });
    await provisionStackResources(drStack());
    return { cluster, site };
  }

  /** DR instances answer HTTP once launched: EC2 in moto starts nothing, so the test serves them. */
  function serveDrNodes(model: ClusterModel, nodePort: number, status = 200): LocalExecutionOptions['onEvent'] {
    const served = new Set<string>();
    return (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Launch the DR nodes') return;
      void findDrNodes(drClients().ec2, model).then(async (nodes) => {
        for (const node of nodes.filter((candidate) => !served.has(candidate.instanceId))) {
          served.add(node.instanceId);
          // A node an earlier execution launched already answers.
          const fake = await serveNode(node.instanceId, node.privateIp ?? '', nodePort).catch(() => undefined);
          if (fake) fake.healthStatus = status;
        }
      });
    };
  }

  const drStack = () => synthesizedApp().stack(drStackIdFor('test-cluster'));

  function run(input: Record<string, unknown>, onEvent?: LocalExecutionOptions['onEvent']) {
    return runLocally({
      stack: drStack(),
      input: { cluster: 'test-cluster', ...input },
      timeScale: 0.001,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  const dnsServing = async (model: ClusterModel) =>
    (await readDnsState({ route53: route53Client, drElbv2: drClients().elbv2 }, model)).serving;

  async function liveDrNodes(model: ClusterModel) {
    return findDrNodes(drClients().ec2, model);
  }

  it('starts the DR site, points DNS at it once every DR node passes its checks, and reports the RTO', async () => {
    const { cluster, site } = await prepare();

    const execution = await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path.at(-1)).toBe('Region failover complete');
    expect(execution.path.indexOf('Point DNS at the DR region')).toBeGreaterThan(
      execution.path.lastIndexOf('Check whether the DR site is ready'),
    );
    const output = execution.output as { rtoSeconds: number; dns: { serving: string; changed: boolean } };
    expect(output.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(output.dns).toMatchObject({ serving: 'dr', changed: true });
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
  });

  it('drills: measures the RTO, leaves DNS on the primary region and tears the DR nodes down', async () => {
    const { cluster, site } = await prepare();

    const execution = await run({ mode: 'drill' }, serveDrNodes(site.model, cluster.nodePort));

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path.at(-1)).toBe('Drill complete');
    expect(execution.path).not.toContain('Point DNS at the DR region');
    expect((execution.output as { rtoSeconds: number }).rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('fails back once the primary region serves again, and tears the DR site down', async () => {
    const { cluster, site } = await prepare();
    await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));

    const execution = await run({ mode: 'failback' });

    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path.at(-1)).toBe('Failback complete');
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('refuses to fail back while the primary region does not serve, and leaves DNS on the DR site', async () => {
    const { cluster, site } = await prepare();
    await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));
    // moto reports every registered target healthy; the primary's active node is made unhealthy here.
    unhealthyTarget(cluster.model.nodes[0]?.instanceId ?? '');

    const execution = await run({ mode: 'failback' });

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PrimaryNotServingError');
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
  });

  it('tears its DR nodes down and leaves DNS alone when they never pass their checks', async () => {
    const { cluster, site } = await prepare();

    const execution = await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort, 503));

    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('DrSiteNotReadyError');
    expect(execution.path).toContain('Clean up: tear down the DR nodes');
    expect(await dnsServing(site.model)).toBe('primary');
    expect(await liveDrNodes(site.model)).toEqual([]);
  });

  it('moves the weight of weighted records, and a repeat changes nothing', async () => {
    const { cluster, site } = await prepare('weighted');

    const first = await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));
    const repeat = await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));

    expect(first.status).toBe('SUCCEEDED');
    expect(repeat.status).toBe('SUCCEEDED');
    expect((repeat.output as { dns: { changed: boolean } }).dns.changed).toBe(false);
    expect(await liveDrNodes(site.model)).toHaveLength(2);
    const state = await readDnsState({ route53: route53Client, drElbv2: drClients().elbv2 }, site.model);
    expect(state.records.map((record) => `${record.site}=${record.weight}`).sort()).toEqual(['dr=100', 'primary=0']);
  });

  it('refuses a drill while the DR site serves a real failover, and touches nothing', async () => {
    const { cluster, site } = await prepare();
    await run({ mode: 'failover' }, serveDrNodes(site.model, cluster.nodePort));

    const drill = await run({ mode: 'drill' });

    expect(drill.status).toBe('FAILED');
    expect(drill.error).toBe('DrSiteInUseError');
    expect(await dnsServing(site.model)).toBe('dr');
    expect(await liveDrNodes(site.model)).toHaveLength(2);
  });

  describe('the DR lock', () => {
    const drLockStore = () => {
      const [table] = resourcesOfType(drStack().template, 'AWS::DynamoDB::GlobalTable');
      return dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: table?.[0] ?? '' });
    };

    it('lets a failover started during a drill take the drill over, so DNS never names an empty DR site', async () => {
      // The probe: the failover counted the drill's nodes, launched none, moved DNS, and the drill then tore them down.
      const { cluster, site } = await prepare();
      let failover: Promise<LocalExecutionResult> | undefined;
      let failoverHasTheLock = () => {};
      const tookOver = new Promise<void>((resolve) => {
        failoverHasTheLock = resolve;
      });
      const serving = serveDrNodes(site.model, cluster.nodePort);

      const drill = await runLocally({
        stack: drStack(),
        input: { cluster: 'test-cluster', mode: 'drill' },
        timeScale: 0.001,
        // The drill's nodes are up and it is polling them when the failover starts; it polls until stopped.
        taskOverrides: {
          'Check whether the DR site is ready': async () => {
            failover ??= run({ mode: 'failover' }, (event) => {
              serving?.(event);
              if (event.type === 'StateExited' && event.state.name === 'Take over the DR lock') failoverHasTheLock();
            });
            await tookOver;
            return { ready: false, nodes: [], checkedAt: new Date().toISOString() };
          },
        },
      });
      const execution = await (failover ?? Promise.reject(new Error('the failover never started')));

      expect(drill.status).toBe('ABORTED');
      expect(execution.status).toBe('SUCCEEDED');
      expect(await dnsServing(site.model)).toBe('dr');
      const nodes = await liveDrNodes(site.model);
      expect(nodes).toHaveLength(2);
      expect(await findDrNodes(drClients().ec2, site.model, execution.executionArn)).toEqual(nodes);
      expect(await readLock(drLockStore(), 'test-cluster')).toBeUndefined();
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
    });
  });

  it('launches each DR node once however often the launch is retried', async () => {
    const { site } = await prepare();
    const { handler } = await import('../../functions/dr-nodes');
    const launch = {
      action: 'launch',
      cluster: 'test-cluster',
      execution: 'arn:aws:states:eu-west-1:123456789012:execution:zerodown-test-cluster-region-failover:retried',
    };

    await handler(launch);
    await handler(launch);

    const all = await drClients().ec2.send(new DescribeInstancesCommand({}));
    expect((all.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])).toHaveLength(2);
    expect(await liveDrNodes(site.model)).toHaveLength(2);
  });
});
