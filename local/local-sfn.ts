import * as path from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { HANDLER_METADATA_KEY } from '../cdk/constructs/zerodown-function';
import { PROJECT_ROOT } from '../cdk/paths';
import { WORKFLOW_METADATA_KEY } from '../functions/domain/workflows';
import { type AslDefinition, allStates, invokedFunctionArn, LAMBDA_INVOKE_RESOURCE, stateMachinesIn } from './asl';
import { trackLocalExecution } from './local-executions';
import { installPromiseWithResolvers } from './polyfills';
import type { SynthesizedStack } from './synth';
import { type CfnTemplate, resolveIntrinsics, type StackEnvironment } from './template';

installPromiseWithResolvers();

/** The event log entries of aws-local-stepfunctions (the package does not export the type). */
export type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;
export type LocalTaskHandler = (input: Json) => Promise<Json>;

export interface LocalFunction {
  readonly logicalId: string;
  /** `path/to/entry.ts#exportName`, from the function's `zerodown:handler` metadata. */
  readonly handlerRef: string;
  readonly environment: Record<string, string>;
}

/** Functions in a template that name their handler module, keyed by logical id. */
export function localFunctions(template: CfnTemplate, env: StackEnvironment): Map<string, LocalFunction> {
  const functions = new Map<string, LocalFunction>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const handlerRef = resource.Metadata?.[HANDLER_METADATA_KEY];
    if (resource.Type !== 'AWS::Lambda::Function' || typeof handlerRef !== 'string') continue;
    const variables = (resource.Properties?.Environment as { Variables?: Json } | undefined)?.Variables ?? {};
    const environment = resolveIntrinsics(template, env, variables) as Record<string, string>;
    functions.set(logicalId, { logicalId, handlerRef, environment });
  }
  return functions;
}

function loadHandler(fn: LocalFunction): LambdaHandler {
  const [file = '', exportName = 'handler'] = fn.handlerRef.split('#');
  // The module reads its configuration from the environment at load time, as it does in Lambda.
  Object.assign(process.env, fn.environment);
  const module = require(path.join(PROJECT_ROOT, file)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${fn.handlerRef} does not export a function`);
  return handler as LambdaHandler;
}

function lambdaContext(fn: LocalFunction, env: StackEnvironment) {
  return {
    functionName: fn.logicalId,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${env.region}:${env.account}:function:${fn.logicalId}`,
    memoryLimitInMB: '256',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${fn.logicalId}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
  };
}

/**
 * What Lambda does with a thrown error: the state machine sees the error's name as `Error` and a JSON document
 * `{ errorType, errorMessage, trace }` as `Cause`. Rethrowing it the same way keeps Catch-by-name and any
 * Cause parsing identical to AWS.
 */
export class LocalLambdaError extends Error {
  constructor(original: unknown) {
    const error = original instanceof Error ? original : new Error(String(original));
    super(
      JSON.stringify({
        errorType: error.name,
        errorMessage: error.message,
        trace: (error.stack ?? '').split('\n').slice(0, 5),
      }),
    );
    this.name = error.name;
  }
}

export interface LocalExecutionOptions {
  readonly stack: SynthesizedStack;
  /** The workflow (`patch-server`) or the state machine's logical id; may be omitted when the stack has one. */
  readonly stateMachine?: string;
  readonly input: Json;
  /** Wait states and retry intervals last `timeScale` times their real duration. @default 0.01 */
  readonly timeScale?: number;
  /** Aborting stops the execution, as StopExecution does: the state machine leaves things where they are. */
  readonly signal?: AbortSignal;
  /** Replaces the handler of a Task state by name, for the rare test that must stub one step. */
  readonly taskOverrides?: Record<string, LocalTaskHandler>;
  /**
   * Stops the execution inside this Task, as StopExecution would while the step runs: the task never answers, so
   * the stop lands exactly there however busy the machine is.
   */
  readonly stopInside?: string;
  /**
   * Replaces the state machine's execution timeout, in real seconds: Step Functions ends the execution `TIMED_OUT`
   * wherever it is, as the deployed timeout would, without the hours a real one takes.
   */
  readonly executionTimeoutSeconds?: number;
  readonly executionName?: string;
  /** Called with every event as it happens: progress output and live assertions. */
  readonly onEvent?: (event: EventLog) => void;
}

const DEFAULT_TIME_SCALE = 0.01;

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface LocalExecutionResult {
  readonly executionArn: string;
  readonly status: ExecutionStatus;
  readonly output?: Json;
  readonly error?: string;
  readonly cause?: string;
  readonly events: readonly EventLog[];
  /** State entries, the figure Step Functions bills by. */
  readonly stateTransitions: number;
  readonly durationMs: number;
  /** Names of the states entered, in order. */
  readonly path: readonly string[];
  /** How long each fixed Wait state was made to last, in real milliseconds: its seconds times the time scale. */
  readonly waitMs: Readonly<Record<string, number>>;
}

function waitOverrides(definition: AslDefinition, timeScale: number): Record<string, number> {
  const overrides: Record<string, number> = {};
  for (const { name, state } of allStates(definition)) {
    if (state.Type === 'Wait' && typeof state.Seconds === 'number') overrides[name] = state.Seconds * 1000 * timeScale;
  }
  return overrides;
}

/** The Resource of the Tasks that stand in for Wait states whose seconds come from the input. */
const SCALED_WAIT_RESOURCE = 'arn:aws:lambda:us-east-1:000000000000:function:zerodown-local-scaled-wait';

/**
 * aws-local-stepfunctions can replace a Wait's duration only by a fixed number, and a SecondsPath wait (a drain time,
 * a bake) must last its own seconds times the time scale. Each such Wait becomes a Task of the same name that reads
 * the same path and sleeps the scaled time, passing its input through as the Wait does.
 */
function withScaledDynamicWaits(definition: AslDefinition): AslDefinition {
  const states = Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => {
      if (state.Type !== 'Wait' || typeof state.SecondsPath !== 'string') return [name, state];
      const { SecondsPath: secondsPath, Type: _type, ...rest } = state;
      return [
        name,
        {
          ...rest,
          Type: 'Task',
          Resource: SCALED_WAIT_RESOURCE,
          Parameters: { 'seconds.$': secondsPath },
          ResultPath: null,
        },
      ];
    }),
  );
  return { ...definition, States: states };
}

function scaledWait(timeScale: number, signal: AbortSignal | undefined): LocalTaskHandler {
  return async (input) => {
    const seconds = Number((input as { seconds?: unknown } | null)?.seconds ?? 0);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, seconds) * 1000 * timeScale);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return null;
  };
}

function retryOverrides(definition: AslDefinition, timeScale: number): Record<string, number[]> {
  const overrides: Record<string, number[]> = {};
  for (const { name, state } of allStates(definition)) {
    if (!state.Retry) continue;
    overrides[name] = state.Retry.map((retrier) => (retrier.IntervalSeconds ?? 1) * 1000 * timeScale);
  }
  return overrides;
}

/** Binds every Lambda Task to its real handler, called in this process. */
function taskHandlers(
  options: LocalExecutionOptions,
  definition: AslDefinition,
  functions: Map<string, LocalFunction>,
): Record<string, LocalTaskHandler> {
  const { stack } = options;
  const handlers: Record<string, LocalTaskHandler> = {};
  const loaded = new Map<string, LambdaHandler>();
  for (const { name, state } of allStates(definition)) {
    if (state.Type !== 'Task') continue;
    if (state.Resource === SCALED_WAIT_RESOURCE) {
      handlers[name] = scaledWait(options.timeScale ?? DEFAULT_TIME_SCALE, options.signal);
      continue;
    }
    const override = options.taskOverrides?.[name];
    if (override) {
      handlers[name] = override;
      continue;
    }
    const arn = invokedFunctionArn(state);
    const logicalId = arn?.split(':')[6];
    const fn = logicalId ? functions.get(logicalId) : undefined;
    if (!fn) {
      throw new Error(`Task "${name}" (${state.Resource}) has no local handler: add ${HANDLER_METADATA_KEY} metadata`);
    }
    const optimized = LAMBDA_INVOKE_RESOURCE.test(state.Resource ?? '');
    handlers[name] = async (input) => {
      let handler = loaded.get(fn.logicalId);
      if (!handler) {
        handler = loadHandler(fn);
        loaded.set(fn.logicalId, handler);
      }
      const payload = optimized ? (input as { Payload?: Json }).Payload : input;
      let result: unknown;
      try {
        result = await handler(payload ?? {}, lambdaContext(fn, stack.env));
      } catch (error) {
        throw new LocalLambdaError(error);
      }
      const json = (result === undefined ? null : JSON.parse(JSON.stringify(result))) as Json;
      return optimized ? { Payload: json, StatusCode: 200, ExecutedVersion: '$LATEST' } : json;
    };
  }
  return handlers;
}

/**
 * The logical id of a state machine in a synthesized stack: named by its workflow (`patch-server`, found by the
 * workflow metadata the construct writes), by its logical id or a prefix of it, or the only one in the stack.
 */
export function stateMachineLogicalId(stack: SynthesizedStack, requested?: string): string {
  const machines = Object.entries(stack.template.Resources).filter(
    ([, resource]) => resource.Type === 'AWS::StepFunctions::StateMachine',
  );
  const ids = machines.map(([id]) => id);
  if (requested) {
    const match =
      machines.find(([, resource]) => resource.Metadata?.[WORKFLOW_METADATA_KEY] === requested)?.[0] ??
      ids.find((id) => id === requested || id.startsWith(requested));
    if (!match) throw new Error(`No state machine ${requested} in ${stack.stackName}; have ${ids.join(', ')}`);
    return match;
  }
  if (ids.length !== 1) throw new Error(`${stack.stackName} has ${ids.length} state machines; name one`);
  return ids[0] as string;
}

const validatedMachines = new WeakMap<AslDefinition, StateMachine>();

/**
 * The validated machine for a synthesized state machine. Validating takes a few hundred milliseconds, so it is done
 * once per definition, not per execution; a caller that must start executions at once can prepare them early.
 */
export function prepareMachine(stack: SynthesizedStack, stateMachine?: string): StateMachine {
  const resolved = definitionOf(stack, stateMachineLogicalId(stack, stateMachine));
  let machine = validatedMachines.get(resolved);
  if (!machine) {
    machine = new StateMachine(withScaledDynamicWaits(resolved) as never, {
      validationOptions: { checkArn: true, checkPaths: true },
    });
    validatedMachines.set(resolved, machine);
  }
  return machine;
}

/**
 * Gets a stack ready to start executions at once, as the deployed engine and warm Lambdas are: every state machine
 * validated, and every handler module loaded. Loading a handler's sources and SDK clients takes a second or more on a
 * busy machine; done here, it never counts as a workflow's own time.
 */
export function prepareStack(stack: SynthesizedStack): void {
  for (const [logicalId, resource] of Object.entries(stack.template.Resources)) {
    if (resource.Type === 'AWS::StepFunctions::StateMachine') prepareMachine(stack, logicalId);
  }
  for (const fn of localFunctions(stack.template, stack.env).values()) loadHandler(fn);
}

/** Resolving every definition of a template takes a while; a run starts many executions of the same few. */
const resolvedMachines = new WeakMap<SynthesizedStack['template'], ReturnType<typeof stateMachinesIn>>();

export function definitionOf(stack: SynthesizedStack, logicalId: string): AslDefinition {
  let machines = resolvedMachines.get(stack.template);
  if (!machines) {
    machines = stateMachinesIn(stack.template, stack.env);
    resolvedMachines.set(stack.template, machines);
  }
  const found = machines.find((machine) => machine.logicalId === logicalId);
  if (!found) throw new Error(`No state machine ${logicalId} in ${stack.stackName}`);
  return found.definition;
}

/**
 * Runs a synthesized state machine in aws-local-stepfunctions, with every Lambda Task calling the real handler in
 * process (and so reaching moto through AWS_ENDPOINT_URL), waits and retry intervals scaled, and the event log
 * collected.
 */
export async function runLocally(options: LocalExecutionOptions): Promise<LocalExecutionResult> {
  const { stack } = options;
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const logicalId = stateMachineLogicalId(stack, options.stateMachine);
  const machine =
    options.executionTimeoutSeconds === undefined
      ? prepareMachine(stack, logicalId)
      : new StateMachine(
          withScaledDynamicWaits({
            ...definitionOf(stack, logicalId),
            TimeoutSeconds: options.executionTimeoutSeconds,
          }) as never,
          { validationOptions: { checkArn: true, checkPaths: true } },
        );
  const stateMachineArn = `arn:aws:states:${stack.env.region}:${stack.env.account}:stateMachine:${logicalId}`;
  const executionName = options.executionName ?? crypto.randomUUID();
  const executionArn = `arn:aws:states:${stack.env.region}:${stack.env.account}:execution:${logicalId}:${executionName}`;
  const startedAt = Date.now();

  const definition = withScaledDynamicWaits(definitionOf(stack, logicalId));
  const waits = waitOverrides(definition, timeScale);
  const stopping = new AbortController();
  const stopInside: Record<string, LocalTaskHandler> = options.stopInside
    ? {
        [options.stopInside]: () => {
          stopping.abort();
          return new Promise<Json>(() => {});
        },
      }
    : {};
  const execution = machine.run(options.input, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers(
        { ...options, taskOverrides: { ...options.taskOverrides, ...stopInside } },
        definition,
        localFunctions(stack.template, stack.env),
      ),
      waitTimeOverrides: waits,
      retryIntervalOverrides: retryOverrides(definition, timeScale),
    },
    context: {
      Execution: {
        Id: executionArn,
        Name: executionName,
        Input: options.input,
        StartTime: new Date(startedAt).toISOString(),
        RoleArn: `arn:aws:iam::${stack.env.account}:role/${logicalId}Role`,
      },
      StateMachine: { Id: stateMachineArn, Name: logicalId },
    } as never,
  });

  options.signal?.addEventListener('abort', () => execution.abort(), { once: true });
  stopping.signal.addEventListener('abort', () => execution.abort(), { once: true });
  const tracked = trackLocalExecution(executionArn, {
    stateMachineArn,
    startDate: new Date(startedAt),
    abort: () => execution.abort(),
  });
  const events: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) {
      events.push(event);
      options.onEvent?.(event);
    }
  })();

  let status: ExecutionStatus = 'SUCCEEDED';
  let output: Json | undefined;
  try {
    output = (await execution.result) as Json;
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    status = name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : name === 'ExecutionAbortedError' ? 'ABORTED' : 'FAILED';
  }
  tracked.ended(status);
  await collecting;

  const failed = events.find((event) => event.type === 'ExecutionFailed');
  const entered = events.filter((event) => event.type === 'StateEntered');
  return {
    executionArn,
    status,
    output,
    ...(failed && 'Error' in failed
      ? { error: failed.Error, cause: typeof failed.Cause === 'string' ? failed.Cause : JSON.stringify(failed.Cause) }
      : {}),
    events,
    stateTransitions: entered.length,
    durationMs: Date.now() - startedAt,
    path: entered.map((event) => ('state' in event ? event.state.name : '')),
    waitMs: waits,
  };
}
