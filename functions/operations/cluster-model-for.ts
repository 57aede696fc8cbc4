import { ssmClient } from './clients/ssm';
import type { ClusterModel } from './cluster-model';
import { loadClusterModel } from './cluster-store';
import { assertOwnCluster } from './own-cluster';

export async function clusterModelFor(cluster: string): Promise<ClusterModel> {
  assertOwnCluster(cluster);
  return loadClusterModel(ssmClient, cluster);
}
