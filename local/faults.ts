import type { DescribeTargetHealthCommandOutput } from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CommandInvocationStatus,
  type DescribeInstanceInformationCommandInput,
  type DescribeInstanceInformationCommandOutput,
  type GetCommandInvocationCommandOutput,
  type ListCommandsCommandOutput,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { elbv2Client } from '../functions/aws/clients/elbv2';
import { ssmClient } from '../functions/aws/clients/ssm';

/**
 * Failures moto cannot produce (throttling, an unhealthy target, a failed command), injected as SDK middleware on
 * the module-scope clients the handlers use. Everything else still goes to moto.
 */

type Handler = (args: { input: object }) => Promise<{ output: unknown }>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;
interface MiddlewareOptions {
  step: 'initialize' | 'finalizeRequest';
  priority: 'high' | 'low';
  name: string;
}
/** An SDK client's middleware stack, narrowed to the two steps the local twin uses. */
export interface MiddlewareStack {
  add(middleware: Middleware, options: MiddlewareOptions): void;
  remove(name: string): boolean;
}
/** Any SDK v3 client. Its overloaded middleware stack is narrowed to the two steps used here. */
export interface FaultableClient {
  readonly middlewareStack: object;
}

export interface Fault {
  readonly name: string;
  /** How many calls the fault changed. */
  readonly hits: number;
  remove(): void;
}

export interface FaultScope<Input> {
  /** Only the first `times` matching calls are affected. @default Infinity */
  readonly times?: number;
  /** Only calls whose input matches. @default - every call of the command */
  readonly when?: (input: Input) => boolean;
}

const active = new Set<Fault>();
let sequence = 0;

function install<Input>(
  client: FaultableClient,
  commandName: string,
  step: MiddlewareOptions['step'],
  scope: FaultScope<Input>,
  apply: (next: Handler, args: { input: object }) => Promise<{ output: unknown }>,
): Fault {
  const name = `zerodownFault${++sequence}`;
  let remaining = scope.times ?? Number.POSITIVE_INFINITY;
  let hits = 0;
  const middleware: Middleware = (next, context) => async (args) => {
    const matches = context.commandName === commandName && (scope.when?.(args.input as Input) ?? true);
    if (!matches || remaining <= 0) return next(args);
    remaining--;
    hits++;
    return apply(next, args);
  };
  // Errors are raised inside the SDK's retry middleware (finalizeRequest, low priority), so the SDK retries a
  // throttle as it would a real one; output rewrites wrap everything (initialize).
  const stack = client.middlewareStack as MiddlewareStack;
  stack.add(middleware, { step, priority: step === 'initialize' ? 'high' : 'low', name });
  const fault: Fault = {
    name,
    get hits() {
      return hits;
    },
    remove() {
      stack.remove(name);
      active.delete(fault);
    },
  };
  active.add(fault);
  return fault;
}

/** Records the name of every command the client sends (such as `ModifyListenerCommand`) into `calls`. */
export function recordCalls(client: FaultableClient, calls: string[]): Fault {
  return spy(client, (commandName) => calls.push(commandName ?? 'unknown'));
}

/** Records the input of every call of one command (such as `ModifyListenerCommand`) into `inputs`, in order. */
export function recordInputs<Input = Record<string, unknown>>(
  client: FaultableClient,
  commandName: string,
  inputs: Input[],
): Fault {
  return spy(client, (name, input) => {
    if (name === commandName) inputs.push(structuredClone(input) as Input);
  });
}

function spy(client: FaultableClient, record: (commandName: string | undefined, input: object) => void): Fault {
  const name = `zerodownSpy${++sequence}`;
  const stack = client.middlewareStack as MiddlewareStack;
  let hits = 0;
  stack.add(
    (next, context) => async (args) => {
      hits++;
      record(context.commandName, args.input as object);
      return next(args);
    },
    { step: 'initialize', priority: 'high', name },
  );
  const fault: Fault = {
    name,
    get hits() {
      return hits;
    },
    remove() {
      stack.remove(name);
      active.delete(fault);
    },
  };
  active.add(fault);
  return fault;
}

/**
 * Makes matching calls fail with the given error, before they reach moto. By default the error is raised inside
 * the SDK's retry loop, so each SDK attempt counts against `times`; with `sdkRetriesExhausted` the call fails as if
 * the SDK had already given up.
 */
export function injectError<Input = Record<string, unknown>>(
  client: FaultableClient,
  commandName: string,
  makeError: () => Error,
  scope: FaultScope<Input> & { readonly sdkRetriesExhausted?: boolean } = {},
): Fault {
  const step = scope.sdkRetriesExhausted ? 'initialize' : 'finalizeRequest';
  return install(client, commandName, step, scope, async () => {
    throw makeError();
  });
}

/**
 * Lets matching calls reach moto, then fails as a Lambda does when its process dies after the write went out
 * (`Runtime.ExitError`, which Step Functions does not retry): the change is made and nobody heard of it.
 */
export function crashAfterWrite<Input = Record<string, unknown>>(
  client: FaultableClient,
  commandName: string,
  scope: FaultScope<Input> = { times: 1 },
): Fault {
  return install(client, commandName, 'initialize', scope, async (next, args) => {
    await next(args);
    throw Object.assign(new Error(`the process exited after ${commandName}`), { name: 'Runtime.ExitError' });
  });
}

/** Lets matching calls reach moto, then changes what they return. */
export function rewriteOutput<Output, Input = Record<string, unknown>>(
  client: FaultableClient,
  commandName: string,
  rewrite: (output: Output, input: Input) => Output,
  scope: FaultScope<Input> = {},
): Fault {
  return install(client, commandName, 'initialize', scope, async (next, args) => {
    const result = await next(args);
    return { ...result, output: rewrite(result.output as Output, args.input as Input) };
  });
}

/**
 * Answers matching calls with the given output without reaching moto: for the few read operations moto does not
 * implement at all (SSM DescribeInstanceInformation answers HTTP 500 there).
 */
export function respondWith<Output, Input = Record<string, unknown>>(
  client: FaultableClient,
  commandName: string,
  respond: (input: Input) => Output,
  scope: FaultScope<Input> = {},
): Fault {
  return install(client, commandName, 'initialize', scope, async (_next, args) => ({
    output: { $metadata: {}, ...respond(args.input as Input) },
  }));
}

/** The SSM agent of each named instance reports Online (moto does not implement DescribeInstanceInformation). */
export function ssmAgentsOnline(isOnline: (instanceId: string) => boolean = () => true): Fault {
  return respondWith<DescribeInstanceInformationCommandOutput, DescribeInstanceInformationCommandInput>(
    ssmClient,
    'DescribeInstanceInformationCommand',
    (input) => ({
      $metadata: {},
      InstanceInformationList: (input.Filters?.find((filter) => filter.Key === 'InstanceIds')?.Values ?? []).map(
        (InstanceId) => ({ InstanceId, PingStatus: isOnline(InstanceId) ? 'Online' : 'ConnectionLost' }),
      ),
    }),
  );
}

/** A throttling error of the service's own exception type, which the SDK's retry strategy treats as throttling. */
export function throttlingError<E extends Error>(
  ServiceException: new (options: {
    name: string;
    $fault: 'client' | 'server';
    $metadata: { httpStatusCode?: number };
    message?: string;
  }) => E,
): () => E {
  return () =>
    new ServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded',
    });
}

/** ELBv2 reports the instance's target as unhealthy (moto only knows healthy, unused and draining). */
export function unhealthyTarget(instanceId: string, scope: FaultScope<{ TargetGroupArn?: string }> = {}): Fault {
  return rewriteOutput<DescribeTargetHealthCommandOutput, { TargetGroupArn?: string }>(
    elbv2Client,
    'DescribeTargetHealthCommand',
    (output) => ({
      ...output,
      TargetHealthDescriptions: (output.TargetHealthDescriptions ?? []).map((description) =>
        description.Target?.Id === instanceId
          ? {
              ...description,
              TargetHealth: {
                State: 'unhealthy',
                Reason: 'Target.FailedHealthChecks',
                Description: 'Health checks failed (injected)',
              },
            }
          : description,
      ),
    }),
    scope,
  );
}

/** SSM reports the command on the instance as failed, with the given output (moto always reports Success). */
export function failedCommand(
  instanceId: string,
  details: { output?: string; status?: 'Failed' | 'TimedOut' | 'Cancelled'; responseCode?: number } = {},
  scope: FaultScope<{ InstanceId?: string; CommandId?: string }> = {},
): Fault {
  const status = details.status ?? 'Failed';
  return rewriteOutput<GetCommandInvocationCommandOutput, { InstanceId?: string; CommandId?: string }>(
    ssmClient,
    'GetCommandInvocationCommand',
    (output) => ({
      ...output,
      Status:
        CommandInvocationStatus[status === 'TimedOut' ? 'TIMED_OUT' : status === 'Cancelled' ? 'CANCELLED' : 'FAILED'],
      StatusDetails: status,
      ResponseCode: details.responseCode ?? 1,
      StandardErrorContent: details.output ?? 'injected failure',
    }),
    { ...scope, when: (input) => input.InstanceId === instanceId && (scope.when?.(input) ?? true) },
  );
}

/**
 * Every command SSM lists is still running, and CancelCommand is answered (moto finishes every command at once and
 * does not implement CancelCommand). Answers the ids of the commands cancelled, in order.
 */
export function unfinishedCommands(): { cancelled: string[] } {
  rewriteOutput<ListCommandsCommandOutput>(ssmClient, 'ListCommandsCommand', (output) => ({
    ...output,
    Commands: (output.Commands ?? []).map((listed) => ({ ...listed, Status: 'InProgress' as const })),
  }));
  const cancelled: string[] = [];
  respondWith<object, { CommandId?: string }>(ssmClient, 'CancelCommandCommand', (input) => {
    cancelled.push(input.CommandId ?? '');
    return {};
  });
  return { cancelled };
}

/** A throttled SSM call, the failure that most often hits GetCommandInvocation polling. */
export const ssmThrottling = throttlingError(SSMServiceException);

export function removeAllFaults(): void {
  for (const fault of [...active]) fault.remove();
}
