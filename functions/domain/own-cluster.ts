import { InputValidationError } from './errors';

/**
 * Each deployed function serves one cluster (its IAM is scoped to it), named by CLUSTER_NAME. A request for another
 * cluster is refused before anything is read.
 */
export function assertOwnCluster(cluster: string, env: NodeJS.ProcessEnv = process.env): void {
  const own = env.CLUSTER_NAME;
  if (own && own !== cluster) {
    throw new InputValidationError('Wrong cluster', [
      { path: 'cluster', message: `is "${cluster}", but this function serves "${own}"` },
    ]);
  }
}
