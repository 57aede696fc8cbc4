import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { sfnClient } from '../../functions/aws/clients/sfn';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { readWeights } from '../../functions/aws/elbv2';
import { stepFunctionsExecutions } from '../../functions/aws/sfn';
import { loadClusterModel } from '../../functions/aws/ssm';
import { type LockStore, readLockState } from '../../functions/domain/lock';
import { isWeighted } from '../../functions/domain/weights';
import type { MotoCluster } from '../../local/moto-cluster';

/** What must hold after any fault, however the execution ended: each is a sentence, false ones are violations. */
export const INVARIANTS = [
  'traffic goes only to healthy permanent nodes',
  'no surge node is left that no running execution owns',
  'the lock is free or held by a running execution',
  'failover would act on the next node loss',
  'file sync runs, or is paused with a notification that says why',
] as const;

export interface SyncState {
  /** Whether the manager's file sync is paused now, as the simulated nodes saw the commands. */
  readonly paused: boolean;
  /** Why it is still paused, as a recovery or rollback reported it; undefined when nobody said. */
  readonly reportedReason?: string;
}

/** Checks every invariant and answers the ones that do not hold, with what was found. Empty when all hold. */
export async function violatedInvariants(
  cluster: MotoCluster,
  lockStore: LockStore,
  sync: SyncState,
): Promise<string[]> {
  const violations: string[] = [];
  // The cluster as the workflows read it: a failover's replacement stands in the slot of the node it replaced.
  const model = await loadClusterModel(ssmClient, cluster.model.name);
  const executions = stepFunctionsExecutions(sfnClient);

  if (isWeighted(model)) {
    const weights = await readWeights(elbv2Client, model);
    for (const entry of weights.filter((slot) => slot.weight > 0)) {
      const health = await elbv2Client.send(new DescribeTargetHealthCommand({ TargetGroupArn: entry.targetGroupArn }));
      const permanent = new Set(model.nodes.map((node) => node.instanceId));
      const healthyPermanent = (health.TargetHealthDescriptions ?? []).filter(
        (target) => target.TargetHealth?.State === 'healthy' && permanent.has(target.Target?.Id ?? ''),
      );
      if (healthyPermanent.length === 0) {
        violations.push(
          `${INVARIANTS[0]}: slot ${entry.slot} has weight ${entry.weight} and no healthy permanent node`,
        );
      }
    }
  }

  for (const surge of await findSurgeNodes(ec2Client, model, {
    states: ['pending', 'running', 'stopping', 'stopped'],
  })) {
    const owner = surge.tags['zerodown:execution'];
    const status = owner ? await executions.status(owner) : 'GONE';
    if (status !== 'RUNNING')
      violations.push(`${INVARIANTS[1]}: ${surge.instanceId} of ${owner ?? 'nobody'} (${status})`);
  }

  const lock = await readLockState(lockStore, executions, model.name);
  if (lock.stale) violations.push(`${INVARIANTS[2]}: held by ${lock.stale.owner}, which is ${lock.stale.status}`);
  // Failover pre-empts any running maintenance or repair; only another running failover stands in its way.
  if (lock.holder && !lock.maintenance) {
    violations.push(`${INVARIANTS[3]}: ${lock.holder.workflow} ${lock.holder.owner} holds the lock`);
  }

  if (sync.paused && !sync.reportedReason) violations.push(`${INVARIANTS[4]}: paused, and nobody was told why`);
  return violations;
}

/** What must hold in the DR region after any fault of a region failover, a drill or a failback. */
export const REGION_INVARIANTS = [
  'DNS never names a DR site with fewer nodes than the cluster',
  'no DR node is left that neither DNS nor a running execution uses',
  'the DR lock is free or held by a running execution',
] as const;

export interface DrSiteState {
  /** Where the cluster's DNS name points now. */
  readonly dnsServing: 'primary' | 'dr' | string;
  /** The DR nodes that are running, with the execution each is tagged with. */
  readonly drNodes: readonly { readonly instanceId: string; readonly execution: string | undefined }[];
  /** How many nodes a DR site needs. */
  readonly nodesNeeded: number;
}

export async function violatedRegionInvariants(site: DrSiteState, drLockStore: LockStore, cluster: string) {
  const violations: string[] = [];
  const executions = stepFunctionsExecutions(sfnClient);
  if (site.dnsServing === 'dr' && site.drNodes.length < site.nodesNeeded) {
    violations.push(`${REGION_INVARIANTS[0]}: ${site.drNodes.length} of ${site.nodesNeeded}`);
  }
  if (site.dnsServing !== 'dr') {
    for (const node of site.drNodes) {
      const status = node.execution ? await executions.status(node.execution) : 'GONE';
      if (status !== 'RUNNING') violations.push(`${REGION_INVARIANTS[1]}: ${node.instanceId} (${status})`);
    }
  }
  const lock = await readLockState(drLockStore, executions, cluster);
  if (lock.stale) violations.push(`${REGION_INVARIANTS[2]}: held by ${lock.stale.owner} (${lock.stale.status})`);
  return violations;
}
