import {
  GetParametersCommand,
  ParameterTier,
  ParameterType,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { type ClusterModel, type ClusterModelInput, clusterParameterName, parseClusterModel } from './cluster-model';
import { ClusterModelError, ClusterNotFoundError } from './errors';
import { clusterNameSchema, toFieldIssues } from './field-issues';
import {
  applyMembership,
  EMPTY_MEMBERSHIP,
  type Membership,
  membershipParameterName,
  parseMembership,
} from './membership';

/** Standard-tier SSM parameters hold 4 KB; larger models need the advanced tier. */
export const STANDARD_PARAMETER_LIMIT_BYTES = 4096;

export function parameterTierFor(serializedModel: string): 'Standard' | 'Advanced' {
  return Buffer.byteLength(serializedModel, 'utf8') > STANDARD_PARAMETER_LIMIT_BYTES ? 'Advanced' : 'Standard';
}

export function assertClusterName(clusterName: unknown): string {
  const result = clusterNameSchema.safeParse(clusterName, { reportInput: true });
  if (!result.success) {
    throw new ClusterModelError(
      'Invalid cluster name',
      toFieldIssues(result.error).map((issue) => ({ ...issue, path: 'cluster' })),
    );
  }
  return result.data;
}

/**
 * Loads and validates the model that CDK stored for a cluster, with the instances failovers put in place of lost
 * nodes. A workflow input only names the cluster, so this is the first thing every operation does.
 */
export async function loadClusterModel(ssm: SSMClient, clusterName: unknown): Promise<ClusterModel> {
  return (await loadClusterState(ssm, clusterName)).model;
}

/** The model as loadClusterModel returns it, and the membership record it applied. One SSM call reads both. */
export async function loadClusterState(
  ssm: SSMClient,
  clusterName: unknown,
): Promise<{ model: ClusterModel; membership: Membership }> {
  const name = assertClusterName(clusterName);
  const parameterName = clusterParameterName(name);
  const membershipName = membershipParameterName(name);
  const response = await ssm.send(new GetParametersCommand({ Names: [parameterName, membershipName] }));
  const storedValue = (wanted: string) => response.Parameters?.find((parameter) => parameter.Name === wanted)?.Value;
  const raw = storedValue(parameterName);
  if (raw === undefined) throw new ClusterNotFoundError(name, parameterName);

  const document = parseStoredJson(raw, `Cluster model in ${parameterName}`);
  const model = parseClusterModel(document, `cluster model in ${parameterName}`);
  if (model.name !== name) {
    throw new ClusterModelError(`Cluster model in ${parameterName}`, [
      { path: 'name', message: `is "${model.name}", but the parameter belongs to "${name}"` },
    ]);
  }
  const storedMembership = storedValue(membershipName);
  const membership =
    storedMembership === undefined
      ? EMPTY_MEMBERSHIP
      : parseMembership(parseStoredJson(storedMembership, membershipName), membershipName);
  return { model: applyMembership(model, membership), membership };
}

/** A parameter's value as JSON; a value that is not fails with `ClusterModelError` naming `subject`. */
function parseStoredJson(raw: string, subject: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ClusterModelError(subject, [{ path: '', message: 'is not valid JSON' }], { cause: error });
  }
}

/** Writes a validated model where `loadClusterModel` finds it. CDK does this on deploy; the sandbox and tests too. */
export async function saveClusterModel(ssm: SSMClient, input: ClusterModelInput): Promise<ClusterModel> {
  const model = parseClusterModel(input);
  const value = JSON.stringify(model);
  await ssm.send(
    new PutParameterCommand({
      Name: clusterParameterName(model.name),
      Value: value,
      Type: ParameterType.STRING,
      Tier: parameterTierFor(value) === 'Advanced' ? ParameterTier.ADVANCED : ParameterTier.STANDARD,
      Overwrite: true,
    }),
  );
  return model;
}
