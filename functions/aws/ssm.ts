import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  GetParameterCommand,
  GetParametersCommand,
  InvocationDoesNotExist,
  ParameterTier,
  ParameterType,
  PutParameterCommand,
  paginateListCommands,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import {
  type ClusterModel,
  type ClusterModelInput,
  clusterParameterName,
  parameterTierFor,
  parseClusterModel,
} from '../domain/cluster-model';
import { ClusterModelError, ClusterNotFoundError } from '../domain/errors';
import { clusterNameSchema, toFieldIssues } from '../domain/field-issues';
import {
  applyMembership,
  EMPTY_MEMBERSHIP,
  type Membership,
  membershipParameterName,
  parseMembership,
} from '../domain/membership';
import { parseVersionRecord, type VersionRecord, versionRecordParameterName } from '../domain/version-record';

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

export async function saveMembership(ssm: SSMClient, clusterName: string, membership: Membership): Promise<void> {
  await ssm.send(
    new PutParameterCommand({
      Name: membershipParameterName(clusterName),
      Value: JSON.stringify(membership),
      Type: ParameterType.STRING,
      Overwrite: true,
    }),
  );
}

/** A parameter's value, or undefined when there is no such parameter. */
export async function parameterValue(ssm: SSMClient, name: string): Promise<string | undefined> {
  try {
    return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
  } catch (error) {
    if ((error as { name?: unknown }).name === 'ParameterNotFound') return undefined;
    throw error;
  }
}

/** Sets a String parameter's value, creating the parameter when there is none. */
export async function putParameterValue(ssm: SSMClient, name: string, value: string): Promise<void> {
  await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: ParameterType.STRING, Overwrite: true }));
}

/** Writes the cluster's version record in the client's region; writing the same record again is harmless. */
export async function saveVersionRecord(ssm: SSMClient, clusterName: string, record: VersionRecord): Promise<void> {
  await putParameterValue(ssm, versionRecordParameterName(clusterName), JSON.stringify(record));
}

/** The cluster's version record in the client's region, or undefined when none has been recorded there. */
export async function loadVersionRecord(ssm: SSMClient, clusterName: string): Promise<VersionRecord | undefined> {
  const name = versionRecordParameterName(clusterName);
  const raw = await parameterValue(ssm, name);
  return raw === undefined ? undefined : parseVersionRecord(raw, name);
}

/** The AMI to launch: given as an id, or read from an SSM parameter a release pipeline updates. */
export async function imageIdFor(
  ssm: SSMClient,
  source: { imageId?: string | undefined; imageParameter?: string | undefined },
): Promise<string | undefined> {
  if (source.imageId) return source.imageId;
  if (!source.imageParameter) return undefined;
  const response = await ssm.send(new GetParameterCommand({ Name: source.imageParameter }));
  return response.Parameter?.Value;
}

export async function agentPingStatus(ssm: SSMClient, instanceId: string): Promise<string> {
  const response = await ssm.send(
    new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
  );
  return response.InstanceInformationList?.[0]?.PingStatus ?? 'NotRegistered';
}

/**
 * The command sent to the instance with this comment, if any. Every page is read: a busy node's earlier send of the
 * same step may sit on any of them, and missing it would run the command twice.
 */
export async function findCommandByComment(
  ssm: SSMClient,
  instanceId: string | undefined,
  comment: string,
): Promise<{ commandId: string; requestedAt?: Date } | undefined> {
  for await (const page of paginateListCommands({ client: ssm, pageSize: 50 }, { InstanceId: instanceId })) {
    const sent = page.Commands?.find((command) => command.Comment === comment);
    if (sent?.CommandId) {
      return { commandId: sent.CommandId, ...(sent.RequestedDateTime ? { requestedAt: sent.RequestedDateTime } : {}) };
    }
  }
  return undefined;
}

export interface UnfinishedCommand {
  readonly commandId: string;
  /** The document it runs, as it was sent: a name, or the ARN of a document shared from another account. */
  readonly documentName: string;
  /** Every instance the command was sent to, not only the one it was found on. */
  readonly instanceIds: string[];
}

/**
 * Commands sent to the instance that have not finished, whose comment starts with `commentPrefix`; every page. Each
 * comes with its document, so a caller can tell what kind of command it is before it cancels one.
 */
export async function findUnfinishedCommands(
  ssm: SSMClient,
  instanceId: string,
  commentPrefix: string,
): Promise<UnfinishedCommand[]> {
  const unfinished: UnfinishedCommand[] = [];
  for await (const page of paginateListCommands({ client: ssm, pageSize: 50 }, { InstanceId: instanceId })) {
    for (const command of page.Commands ?? []) {
      // A command being cancelled may still be changing the node: it has not ended either.
      const running =
        command.Status === 'Pending' || command.Status === 'InProgress' || command.Status === 'Cancelling';
      if (running && command.CommandId && command.Comment?.startsWith(commentPrefix)) {
        unfinished.push({
          commandId: command.CommandId,
          documentName: command.DocumentName ?? '',
          instanceIds: [...(command.InstanceIds ?? [])],
        });
      }
    }
  }
  return unfinished;
}

/** Sends a Run Command document to exactly these instances; answers the command id. */
export async function sendRunCommand(
  ssm: SSMClient,
  command: {
    instanceIds: readonly string[];
    documentName: string;
    documentVersion: string;
    parameters: Record<string, string[]>;
    timeoutSeconds: number;
    comment: string;
  },
): Promise<string> {
  const response = await ssm.send(
    new SendCommandCommand({
      InstanceIds: [...command.instanceIds],
      DocumentName: command.documentName,
      DocumentVersion: command.documentVersion,
      Parameters: command.parameters,
      TimeoutSeconds: command.timeoutSeconds,
      Comment: command.comment,
    }),
  );
  return response.Command?.CommandId ?? '';
}

export interface Invocation {
  readonly status: string;
  /** The exit code, once there is one. */
  readonly responseCode?: number;
  /** Standard output and standard error, one after the other. */
  readonly output: string;
}

/** A command's invocation on one instance. Right after SendCommand it may not exist yet: that reads as Pending. */
export async function readInvocation(ssm: SSMClient, commandId: string, instanceId: string): Promise<Invocation> {
  try {
    const response = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    return {
      status: response.Status ?? 'Pending',
      ...(response.ResponseCode !== undefined && response.ResponseCode >= 0
        ? { responseCode: response.ResponseCode }
        : {}),
      output: [response.StandardOutputContent, response.StandardErrorContent].filter(Boolean).join('\n'),
    };
  } catch (error) {
    if (error instanceof InvocationDoesNotExist) return { status: 'Pending', output: '' };
    throw error;
  }
}

/** Cancels the command on these instances, or on every instance it was sent to when none is named. */
export async function cancelRunCommand(ssm: SSMClient, commandId: string, instanceIds: readonly string[]) {
  await ssm.send(
    new CancelCommandCommand({
      CommandId: commandId,
      ...(instanceIds.length > 0 ? { InstanceIds: [...instanceIds] } : {}),
    }),
  );
}
