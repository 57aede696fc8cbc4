import type { ClusterModel } from './cluster-model';
import { ConfigurationError } from './errors';

export type DrSite = NonNullable<ClusterModel['dr']>;

export function drSiteOf(model: ClusterModel): DrSite {
  if (!model.dr) {
    throw new ConfigurationError(`Cluster "${model.name}" has no DR site: add a "dr" block to its model`);
  }
  return model.dr;
}

export function secondsBetween(since: string, now: Date): number {
  return Math.round((now.getTime() - Date.parse(since)) / 10) / 100;
}
