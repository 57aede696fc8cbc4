import { createHash } from 'node:crypto';
import type { SSMClient } from '@aws-sdk/client-ssm';
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

/**
 * Cancels every command zerodown sent to the cluster's permanent nodes that has not finished. Only the lock holder
 * sends commands, so once a failover holds the lock, any such command belongs to the workflow it pre-empted: a patch
 * or a migration that must not go on behind the failover's back. A command that finished meanwhile is left alone.
 */
export async function cancelUnfinishedCommands(ssm: SSMClient, model: ClusterModel): Promise<{ cancelled: string[] }> {
  const { unfinished } = await unfinishedCommands(ssm, model);
  // Without instance ids, SSM cancels the command on every instance it was sent to.
  for (const commandId of unfinished) await cancelRunCommand(ssm, commandId, []);
  return { cancelled: unfinished };
}

/**
 * The zerodown commands on the cluster's permanent nodes that have not ended (pending, running, or being
 * cancelled): a recovery waits until there are none before it sends traffic back to a node.
 */
export async function unfinishedCommands(
  ssm: SSMClient,
  model: ClusterModel,
): Promise<{ unfinished: string[]; settled: boolean }> {
  const unfinished = new Set<string>();
  for (const { instanceId } of model.nodes) {
    for (const commandId of await findUnfinishedCommands(ssm, instanceId, COMMAND_COMMENT_PREFIX)) {
      unfinished.add(commandId);
    }
  }
  return { unfinished: [...unfinished], settled: unfinished.size === 0 };
}
