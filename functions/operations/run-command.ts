import { createHash } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { findSurgeNodes } from '../aws/ec2';
import {
  cancelRunCommand,
  findCommandByComment,
  findUnfinishedCommands,
  readInvocation,
  sendRunCommand,
} from '../aws/ssm';
import { type ClusterModel, type CommandKind, type CommandSpec, commandDocument } from '../domain/cluster-model';
import {
  CLUSTER_VALUE_PARAMETERS,
  type ClusterValue,
  type ClusterValues,
  invalidClusterValues,
} from '../domain/cluster-values';
import { CommandFailedError, CommandTimedOutError, type FieldIssue, InputValidationError } from '../domain/errors';
import { OPERATOR_VALUE_DESCRIPTIONS, OPERATOR_VALUE_OF, OPERATOR_VALUE_PATTERNS } from '../domain/operator-values';

export interface SendRequest {
  readonly kind: CommandKind;
  readonly instanceIds: readonly string[];
  /** The operator's value for the command (patch id, artifact, version); sent as the `inputParameter`. */
  readonly input?: string;
  /** What a `reconfigure` command receives from the cluster; checked against its patterns before it is sent. */
  readonly clusterValues?: ClusterValues;
  /** The same for every retry of one step, such as the execution ARN plus the state name. */
  readonly idempotencyKey: string;
  /** How often the workflow polls the command. @default 10 */
  readonly pollIntervalSeconds?: number;
}

export interface SentCommand {
  readonly commandId: string;
  readonly documentName: string;
  readonly instanceIds: string[];
  readonly reused: boolean;
  /** When polling gives up and cancels: the send time plus the command's timeout. */
  readonly deadline: string;
  /**
   * How many polls the workflow may make: enough to reach the deadline from the send, plus two, so the poll that
   * finds the deadline passed (and cancels) always comes before the loop's own bound.
   */
  readonly maxPolls: number;
}

export const OUTPUT_TAIL_CHARS = 2_000;
/**
 * Operator values travel as document parameters, which a document's script may put on a shell line. Whatever the
 * workflow's own schema allowed, they must be single-line text without the characters a shell treats as syntax
 * (quotes, `;`, `|`, `$`, backticks, redirections, backslashes); `&` stays, for the query of an artifact URL.
 */
const SAFE_INPUT = /^[^\p{Cc}'"`;|$<>\\]{1,1024}$/u;

/** Every command zerodown sends carries a comment that starts so: the marker that finds them again. */
export const COMMAND_COMMENT_PREFIX = 'zerodown ';

export function commandComment(idempotencyKey: string): string {
  return `${COMMAND_COMMENT_PREFIX}${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}`;
}

function specFor(model: ClusterModel, request: SendRequest): CommandSpec {
  const spec = model.commands[request.kind];
  if (!spec) {
    throw new InputValidationError(`Cluster "${model.name}" cannot run ${request.kind}`, [
      { path: `commands.${request.kind}`, message: 'is not defined in the cluster model' },
    ]);
  }
  if (request.kind === 'reconfigure') {
    // Its values come from the cluster, never from an operator: whatever worked them out, they pass the patterns of
    // the document's allowedPattern before anything is sent.
    const issues: FieldIssue[] = invalidClusterValues(request.clusterValues ?? {}).map(([value, message]) => ({
      path: `clusterValues.${value}`,
      message,
    }));
    if (request.input !== undefined)
      issues.push({ path: 'input', message: 'is not taken: reconfigure has no operator value' });
    if (issues.length > 0) throw new InputValidationError('Invalid reconfigure command', issues);
    return spec;
  }
  if (spec.inputParameter && request.input === undefined) {
    throw new InputValidationError(`Invalid ${request.kind} command`, [
      { path: 'input', message: `is required: the document takes it as ${spec.inputParameter}` },
    ]);
  }
  if (request.input !== undefined && !SAFE_INPUT.test(request.input)) {
    throw new InputValidationError(`Invalid ${request.kind} command`, [
      {
        path: 'input',
        message: 'must be 1-1024 characters of single-line text without quotes, ;, |, $, `, <, > or \\',
      },
    ]);
  }
  const value = OPERATOR_VALUE_OF[request.kind];
  if (request.input !== undefined && !OPERATOR_VALUE_PATTERNS[value].test(request.input)) {
    throw new InputValidationError(`Invalid ${request.kind} command`, [
      { path: 'input', message: `must be ${OPERATOR_VALUE_DESCRIPTIONS[value]}, as the workflow's input requires` },
    ]);
  }
  return spec;
}

/**
 * Sends the cluster's command of the given kind to exactly the instances named. The step's idempotency key goes
 * into the command's comment, so a retried send finds the command it already sent instead of running it twice.
 */
export async function sendCommand(
  ssm: SSMClient,
  model: ClusterModel,
  request: SendRequest,
  now: () => Date = () => new Date(),
): Promise<SentCommand> {
  const spec = specFor(model, request);
  const document = commandDocument(request.kind, spec);
  const comment = commandComment(request.idempotencyKey);
  const instanceIds = [...request.instanceIds];
  const deadlineFrom = (sentAt: Date) => new Date(sentAt.getTime() + spec.timeoutSeconds * 1000).toISOString();
  const maxPolls = Math.ceil(spec.timeoutSeconds / (request.pollIntervalSeconds ?? 10)) + 2;

  const sent = await findCommandByComment(ssm, instanceIds[0], comment);
  if (sent) {
    return {
      commandId: sent.commandId,
      documentName: document.name,
      instanceIds,
      reused: true,
      deadline: deadlineFrom(sent.requestedAt ?? now()),
      maxPolls,
    };
  }

  const parameters: Record<string, string[]> = { ...spec.parameters };
  if (spec.inputParameter && request.input !== undefined) parameters[spec.inputParameter] = [request.input];
  for (const [value, given] of Object.entries(request.clusterValues ?? {}) as [ClusterValue, string][]) {
    parameters[CLUSTER_VALUE_PARAMETERS[value]] = [given];
  }
  const commandId = await sendRunCommand(ssm, {
    instanceIds,
    documentName: document.name,
    documentVersion: document.version,
    parameters,
    timeoutSeconds: spec.timeoutSeconds,
    comment,
  });
  return {
    commandId,
    documentName: document.name,
    instanceIds,
    reused: false,
    deadline: deadlineFrom(now()),
    maxPolls,
  };
}

export interface InvocationResult {
  readonly instanceId: string;
  readonly status: string;
  readonly responseCode?: number;
  readonly outputTail: string;
}

export interface PollResult {
  readonly commandId: string;
  /** InProgress until every instance succeeded. */
  readonly status: 'InProgress' | 'Success';
  readonly invocations: InvocationResult[];
}

const FAILED = ['Failed', 'Cancelled', 'Cancelling'];
const TIMED_OUT = ['TimedOut'];

function tail(text: string): string {
  return text.length > OUTPUT_TAIL_CHARS ? text.slice(-OUTPUT_TAIL_CHARS) : text;
}

async function invocation(ssm: SSMClient, commandId: string, instanceId: string): Promise<InvocationResult> {
  const { output, ...result } = await readInvocation(ssm, commandId, instanceId);
  return { instanceId, ...result, outputTail: tail(output) };
}

/**
 * One poll of a sent command on every instance. A failure fails with `CommandFailedError` carrying the output tail;
 * a command still running past its deadline is cancelled and fails with `CommandTimedOutError`.
 */
export async function pollCommand(
  ssm: SSMClient,
  request: { commandId: string; instanceIds: readonly string[]; deadline?: string },
  now: () => Date = () => new Date(),
): Promise<PollResult> {
  const invocations = await Promise.all(request.instanceIds.map((id) => invocation(ssm, request.commandId, id)));
  const describe = (result: InvocationResult) =>
    `${result.instanceId}: ${result.status}${result.responseCode !== undefined ? ` (exit ${result.responseCode})` : ''}` +
    (result.outputTail ? `; output tail:\n${result.outputTail}` : '');

  const failed = invocations.filter((result) => FAILED.includes(result.status));
  if (failed.length > 0) {
    throw new CommandFailedError(`Command ${request.commandId} failed on ${failed.map(describe).join('\n')}`);
  }
  const timedOut = invocations.filter((result) => TIMED_OUT.includes(result.status));
  if (timedOut.length > 0) {
    throw new CommandTimedOutError(`Command ${request.commandId} timed out on ${timedOut.map(describe).join('\n')}`);
  }
  const done = invocations.every((result) => result.status === 'Success');
  if (!done && request.deadline && now().getTime() > Date.parse(request.deadline)) {
    await cancelRunCommand(ssm, request.commandId, request.instanceIds);
    const running = invocations.filter((result) => result.status !== 'Success');
    throw new CommandTimedOutError(
      `Command ${request.commandId} was still running at its deadline ${request.deadline} and was cancelled: ` +
        running.map(describe).join('\n'),
    );
  }
  return { commandId: request.commandId, status: done ? 'Success' : 'InProgress', invocations };
}

/** A command `cancelUnfinishedCommands` did not cancel: a migration, which is left to end on its own. */
export interface LeftRunningCommand {
  readonly commandId: string;
  readonly instanceIds: string[];
  readonly documentName: string;
}

/** A document's name without the `arn:…:document/` of a document shared from another account. */
function bareDocumentName(name: string): string {
  return name.split('/').at(-1) ?? name;
}

/**
 * Whether a command ran the cluster's `migrate` document: the name `commandDocument` gives it (`sendCommand` sends
 * by that name), a shared document's ARN matched by its name. A node kit document is named after its content
 * (`kitDocumentName`: `zerodown-<cluster>-migrate-<12 hex>`), so a migration sent before a deploy changed the kit
 * is one too. A document that another kind of command shares with `migrate` counts as a migration: left running,
 * it is only bounded by its own timeout, where a migration cut half-way would never be undone.
 */
export function isMigrationDocument(model: ClusterModel, documentName: string): boolean {
  const migrate = model.commands.migrate?.documentName;
  // No document: a kit command whose stack was never deployed, which has never sent a migration.
  if (migrate === undefined || documentName === '') return false;
  const name = bareDocumentName(documentName);
  if (name === bareDocumentName(migrate)) return true;
  const kitPrefix = `zerodown-${model.name}-migrate-`;
  const isKitMigrate = (candidate: string) =>
    candidate.startsWith(kitPrefix) && /^[0-9a-f]{12}$/.test(candidate.slice(kitPrefix.length));
  return isKitMigrate(bareDocumentName(migrate)) && isKitMigrate(name);
}

/**
 * Cancels every command zerodown sent to the cluster's permanent nodes that has not finished, except a migration.
 * Only the lock holder sends commands, so once a failover or a recovery holds the lock, any such command belongs to
 * the workflow it pre-empted or recovers: a patch that must not go on behind its back. A migration is left running
 * and answered in `leftRunning`: cut off half-way, it would leave the schema in neither version, which no rollback
 * undoes. The recovery waits for it to end (`unfinishedCommands` lists it) and the migration's own timeout still
 * bounds it (SSM ends it then; `pollCommand` cancels it past its deadline). A command that finished meanwhile is
 * left alone.
 */
export async function cancelUnfinishedCommands(
  ssm: SSMClient,
  model: ClusterModel,
  ec2?: EC2Client,
): Promise<{ cancelled: string[]; leftRunning: LeftRunningCommand[]; busyInstanceIds: string[] }> {
  const cancelled: string[] = [];
  const leftRunning: LeftRunningCommand[] = [];
  for (const command of await unfinishedOnClusterNodes(ssm, model, ec2)) {
    if (isMigrationDocument(model, command.documentName)) {
      leftRunning.push(command);
      continue;
    }
    // Without instance ids, SSM cancels the command on every instance it was sent to.
    await cancelRunCommand(ssm, command.commandId, []);
    cancelled.push(command.commandId);
  }
  // The nodes a migration still runs on: a failover neither adopts nor retires them while it does.
  const busyInstanceIds = [...new Set(leftRunning.flatMap((command) => command.instanceIds))];
  return { cancelled, leftRunning, busyInstanceIds };
}

/** The unfinished zerodown commands on the cluster's permanent nodes, each once however many nodes it went to. */
/**
 * The unfinished zerodown commands on the cluster's permanent nodes and, given an EC2 client, on its surge nodes too:
 * in active/active the migrations run on the surge node, which a recovery must not terminate under them.
 */
async function unfinishedOnClusterNodes(
  ssm: SSMClient,
  model: ClusterModel,
  ec2?: EC2Client,
): Promise<LeftRunningCommand[]> {
  const unfinished = new Map<string, LeftRunningCommand>();
  const surgeNodes = ec2 ? await findSurgeNodes(ec2, model) : [];
  for (const { instanceId } of [...model.nodes, ...surgeNodes]) {
    for (const command of await findUnfinishedCommands(ssm, instanceId, COMMAND_COMMENT_PREFIX)) {
      if (!unfinished.has(command.commandId)) unfinished.set(command.commandId, command);
    }
  }
  return [...unfinished.values()];
}

/**
 * The zerodown commands on the cluster's permanent nodes that have not ended (pending, running, or being
 * cancelled), a migration left running by `cancelUnfinishedCommands` included: a recovery waits until there are none
 * before it sends traffic back to a node.
 */
export async function unfinishedCommands(
  ssm: SSMClient,
  model: ClusterModel,
  ec2?: EC2Client,
): Promise<{ unfinished: string[]; settled: boolean; busyInstanceIds: string[] }> {
  const commands = await unfinishedOnClusterNodes(ssm, model, ec2);
  const unfinished = commands.map((command) => command.commandId);
  // The nodes a migration still runs on: a recovery that stops waiting does not retire them under it.
  const migrating = commands.filter((command) => isMigrationDocument(model, command.documentName));
  const busyInstanceIds = [...new Set(migrating.flatMap((command) => command.instanceIds))];
  return { unfinished, settled: unfinished.length === 0, busyInstanceIds };
}
