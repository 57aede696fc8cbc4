import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { route53Client } from '../../functions/aws/clients/route53';
import { readDnsState } from '../../functions/aws/route53';
import { unhealthyTarget } from '../../local/faults';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { drFixture } from '../harness/dr-fixture';
import { useMoto } from '../harness/moto';

describe('region-failover', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { drClients, prepare, serveDrNodes, run, dnsServing, liveDrNodes } = drFixture();

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
