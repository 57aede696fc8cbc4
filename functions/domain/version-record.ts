import * as z from 'zod/mini';
import { type ClusterModel, clusterParameterName } from './cluster-model';
import { ClusterModelError } from './errors';
import { FIELD_ISSUE_PARSING, toFieldIssues } from './field-issues';
import type { ClusterSnapshot } from './snapshot';

/**
 * The version the cluster runs, as its nodes reported it after a successful rollout. It is kept in the
 * cluster's region and in its DR region: during a regional outage the primary region cannot be asked, so the DR site
 * compares its nodes with the copy in its own region before DNS points at them.
 */

export const versionRecordParameterName = (clusterName: string) => `${clusterParameterName(clusterName)}/version`;

const versionRecordSchema = z.strictObject({
  version: z.string().check(z.minLength(1), z.maxLength(128)),
  /** When the version was recorded (ISO 8601). */
  recordedAt: z.iso.datetime({ offset: true }),
  /** The execution that recorded it, usually the rollout that put the version in place. */
  execution: z.string().check(z.minLength(1), z.maxLength(2048)),
});
export type VersionRecord = z.output<typeof versionRecordSchema>;

/** The stored value of a version record; one that is not JSON or not a record fails with `ClusterModelError`. */
export function parseVersionRecord(raw: string, parameterName: string): VersionRecord {
  let document: unknown;
  try {
    document = JSON.parse(raw);
  } catch (error) {
    throw new ClusterModelError(`Version record in ${parameterName}`, [{ path: '', message: 'is not valid JSON' }], {
      cause: error,
    });
  }
  const result = versionRecordSchema.safeParse(document, FIELD_ISSUE_PARSING);
  if (!result.success) {
    throw new ClusterModelError(`Version record in ${parameterName}`, toFieldIssues(result.error), {
      cause: result.error,
    });
  }
  return result.data;
}

/**
 * Why a snapshot names no current version (see `currentVersionOf`), in plain words. Nodes' versions are read at the
 * model's version endpoint only: without one, no node reports any.
 */
export function whyNoCurrentVersion(model: Pick<ClusterModel, 'healthChecks'>, snapshot: ClusterSnapshot): string {
  if (!model.healthChecks.version) {
    return "the cluster model names no version endpoint (healthChecks.version), the only place nodes' versions are read";
  }
  const silent = snapshot.nodes.filter((node) => node.version === null);
  if (silent.length > 0) {
    return `node(s) ${silent.map((node) => node.instanceId).join(', ')} report no version at the version endpoint`;
  }
  return `the nodes report different versions (${snapshot.nodes
    .map((node) => `${node.instanceId} runs ${node.version}`)
    .join(', ')}), as after an interrupted rollout`;
}
