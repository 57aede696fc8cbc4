import { ssmClient } from '../aws/clients/ssm';
import { loadClusterModel } from '../aws/ssm';
import type { ClusterModel } from '../domain/cluster-model';
import { assertOwnCluster } from '../domain/own-cluster';

export async function clusterModelFor(cluster: string): Promise<ClusterModel> {
  assertOwnCluster(cluster);
  return loadClusterModel(ssmClient, cluster);
}
