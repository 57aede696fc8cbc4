import { ssmClient } from '../aws/clients/ssm';
import { loadClusterModel } from '../aws/ssm';
import { type ClusterModel, parseClusterModel } from '../domain/cluster-model';
import { InputValidationError } from '../domain/errors';
import { assertOwnCluster } from '../domain/own-cluster';

export async function clusterModelFor(cluster: string): Promise<ClusterModel> {
  assertOwnCluster(cluster);
  return loadClusterModel(ssmClient, cluster);
}

/**
 * The model a step before this one read and passed on, checked as a stored one is; read afresh when none was passed.
 * Only for a step that follows the read under the same lock, so nothing can have changed the model in between.
 */
export async function passedOrLoadedModel(cluster: string, passed: unknown): Promise<ClusterModel> {
  if (passed === undefined) return clusterModelFor(cluster);
  assertOwnCluster(cluster);
  const model = parseClusterModel(passed, 'cluster model passed in');
  if (model.name !== cluster) {
    throw new InputValidationError('Wrong cluster model', [
      { path: 'model.name', message: `is "${model.name}", but the request is for "${cluster}"` },
    ]);
  }
  return model;
}
