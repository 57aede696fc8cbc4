import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { saveVersionRecord } from '../aws/ssm';
import type { ClusterModel } from '../domain/cluster-model';
import { VersionMismatchError } from '../domain/errors';
import { currentVersionOf } from '../domain/snapshot';
import { type VersionRecord, whyNoCurrentVersion } from '../domain/version-record';
import { snapshotCluster } from './snapshot-cluster';

export interface VersionRecordClients {
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  /** SSM by region: the record is written in the cluster's region and in its DR region. */
  readonly ssm: (region: string) => SSMClient;
}

export type VersionRecordResult =
  /** The regions the record was written in: the cluster's, then its DR region's when it has one. */
  | { readonly version: string; readonly recorded: string[] }
  | { readonly version: null; readonly recorded: []; readonly reason: string };

/**
 * Records the version the cluster's permanent nodes report, in the cluster's region and in its DR region, where a
 * region failover compares the DR nodes with it (see `drStatus`). When a node reports none or they disagree,
 * nothing is recorded: the record names a version the whole cluster runs, or it is left as it was. Writing the same
 * version again is harmless, so a retried step can run it twice.
 */
export async function recordVersion(
  clients: VersionRecordClients,
  model: ClusterModel,
  request: { execution: string; now?: Date },
): Promise<VersionRecordResult> {
  const now = request.now ?? new Date();
  const snapshot = await snapshotCluster(clients, model, () => now);
  const version = currentVersionOf(snapshot);
  if (version === null) {
    const reason = whyNoCurrentVersion(model, snapshot);
    // A model whose nodes can report a version but did not is worth telling: the DR site's check would otherwise
    // go on comparing with the version before this rollout, unnoticed. A model that reports none has nothing to say.
    // Versions are read at the version endpoint only (an `expectVersion` check compares, it does not report).
    if (model.healthChecks.version) {
      throw new VersionMismatchError(`The cluster's version was not recorded: ${reason}`);
    }
    return { version: null, recorded: [], reason };
  }

  const record: VersionRecord = { version, recordedAt: now.toISOString(), execution: request.execution };
  const regions = [model.region, ...(model.dr ? [model.dr.region] : [])];
  const recorded: string[] = [];
  for (const region of regions) {
    await saveVersionRecord(clients.ssm(region), model.name, record);
    recorded.push(region);
  }
  return { version, recorded };
}
