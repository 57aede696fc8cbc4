import {
  DescribeLoadBalancersCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import type { ClusterModel } from '../domain/cluster-model';
import { type DrSite, drSiteOf, secondsBetween } from '../domain/dr-site';
import { ConfigurationError } from '../domain/errors';

/**
 * The cluster's DNS name in Route 53, moved between the primary load balancer and the DR one by editing its records,
 * so the move needs no Route 53 health check to go unhealthy first (and works while the primary region's APIs are
 * down). Failover routing: the PRIMARY and SECONDARY records swap their targets. Weighted routing: the record that
 * targets the DR load balancer gets all the weight. Both are one atomic change batch, and both are idempotent: the
 * records are read first, and a name that already points where it should is left alone.
 */

export type Site = 'primary' | 'dr';

export interface DnsState {
  readonly recordName: string;
  /** Where resolvers are sent now: the record Route 53 answers with while every target is healthy. */
  readonly serving: Site;
  readonly records: { setIdentifier?: string; failover?: string; weight?: number; target: string; site: Site }[];
}

export interface DnsChange extends DnsState {
  readonly changed: boolean;
  readonly changedAt: string;
  /** Seconds from `since` (the execution's start) to the change, when given. */
  readonly elapsedSeconds?: number;
}

const normalize = (name: string | undefined) =>
  (name ?? '')
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^dualstack\./, '');

async function drLoadBalancerDnsName(elbv2: ElasticLoadBalancingV2Client, site: DrSite): Promise<string> {
  const response = await elbv2.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [site.loadBalancerArn] }));
  const dnsName = response.LoadBalancers?.[0]?.DNSName;
  if (!dnsName) throw new ConfigurationError(`The DR load balancer ${site.loadBalancerArn} has no DNS name`);
  return normalize(dnsName);
}

async function recordSets(route53: Route53Client, site: DrSite): Promise<ResourceRecordSet[]> {
  const response = await route53.send(
    new ListResourceRecordSetsCommand({ HostedZoneId: site.hostedZoneId, StartRecordName: site.recordName }),
  );
  const wanted = normalize(site.recordName);
  const sets = (response.ResourceRecordSets ?? []).filter(
    (set) => normalize(set.Name) === wanted && set.AliasTarget !== undefined,
  );
  const expected = site.routing === 'failover' ? 'Failover' : 'Weight';
  const usable = sets.filter((set) => set[expected] !== undefined);
  if (usable.length < 2 || !usable.some((set) => set.SetIdentifier)) {
    throw new ConfigurationError(
      `Route 53 zone ${site.hostedZoneId} needs two ${site.routing} alias records for ${site.recordName} ` +
        `(one for each load balancer); found ${usable.length}`,
    );
  }
  return usable;
}

function describe(site: DrSite, sets: ResourceRecordSet[], drDnsName: string): DnsState {
  const siteOf = (set: ResourceRecordSet): Site =>
    normalize(set.AliasTarget?.DNSName) === drDnsName ? 'dr' : 'primary';
  const records = sets.map((set) => ({
    ...(set.SetIdentifier ? { setIdentifier: set.SetIdentifier } : {}),
    ...(set.Failover ? { failover: set.Failover } : {}),
    ...(set.Weight !== undefined ? { weight: set.Weight } : {}),
    target: normalize(set.AliasTarget?.DNSName),
    site: siteOf(set),
  }));
  const serving =
    site.routing === 'failover'
      ? (records.find((record) => record.failover === 'PRIMARY')?.site ?? 'primary')
      : records.some((record) => record.site === 'primary' && (record.weight ?? 0) > 0)
        ? 'primary'
        : 'dr';
  return { recordName: site.recordName, serving, records };
}

export async function readDnsState(
  clients: { route53: Route53Client; drElbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
): Promise<DnsState> {
  const site = drSiteOf(model);
  const [sets, drDnsName] = await Promise.all([
    recordSets(clients.route53, site),
    drLoadBalancerDnsName(clients.drElbv2, site),
  ]);
  return describe(site, sets, drDnsName);
}

/** Points the cluster's DNS name at `to`, and reads the records back. */
export async function pointDnsAt(
  clients: { route53: Route53Client; drElbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: { to: Site; since?: string; now?: () => Date },
): Promise<DnsChange> {
  const site = drSiteOf(model);
  const now = request.now ?? (() => new Date());
  const [sets, drDnsName] = await Promise.all([
    recordSets(clients.route53, site),
    drLoadBalancerDnsName(clients.drElbv2, site),
  ]);
  const before = describe(site, sets, drDnsName);
  let changed = false;
  if (before.serving !== request.to) {
    const changes = site.routing === 'failover' ? swapTargets(sets) : reweigh(sets, drDnsName, request.to);
    await clients.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: site.hostedZoneId,
        ChangeBatch: {
          Comment: `zerodown ${model.name}: serve from the ${request.to === 'dr' ? 'DR' : 'primary'} region`,
          Changes: changes.map((set) => ({ Action: 'UPSERT', ResourceRecordSet: set })),
        },
      }),
    );
    changed = true;
  }
  const after = changed ? describe(site, await recordSets(clients.route53, site), drDnsName) : before;
  if (after.serving !== request.to) {
    throw new ConfigurationError(
      `Route 53 still sends ${site.recordName} to the ${after.serving} site after the change`,
    );
  }
  const at = now();
  return {
    ...after,
    changed,
    changedAt: at.toISOString(),
    ...(request.since ? { elapsedSeconds: secondsBetween(request.since, at) } : {}),
  };
}

/** The PRIMARY record takes the SECONDARY's target and the other way round. */
function swapTargets(sets: ResourceRecordSet[]): ResourceRecordSet[] {
  const primary = sets.find((set) => set.Failover === 'PRIMARY');
  const secondary = sets.find((set) => set.Failover === 'SECONDARY');
  if (!primary || !secondary) throw new ConfigurationError('Failover routing needs a PRIMARY and a SECONDARY record');
  return [
    { ...primary, AliasTarget: secondary.AliasTarget },
    { ...secondary, AliasTarget: primary.AliasTarget },
  ];
}

/** The records of the chosen site get all the weight. */
function reweigh(sets: ResourceRecordSet[], drDnsName: string, to: Site): ResourceRecordSet[] {
  return sets.map((set) => {
    const isDr = normalize(set.AliasTarget?.DNSName) === drDnsName;
    return { ...set, Weight: (to === 'dr') === isDr ? 100 : 0 };
  });
}
