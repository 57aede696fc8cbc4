import { stateMachineNameOf, WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import type { EventLog, ExecutionStatus } from '../local/local-sfn';
import { stateMachineLogicalId } from '../local/local-sfn';
import type { SynthesizedStack } from '../local/synth';
import { AwsErrorResponse } from './gateway';

/**
 * The Step Functions API calls the CLI makes, answered from the sandbox's own executions: the sandbox runs its state
 * machines locally (moto's Step Functions would not run them), so `zerodown --endpoint <sandbox>` starts, follows and
 * stops them through the same five calls it makes on AWS. Each execution is recorded as the runner reports it, and
 * its history is given in the API's own event format, so the CLI has one code path for both.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Status = ExecutionStatus | 'RUNNING';

export interface SandboxStateMachine {
  readonly workflow: WorkflowName;
  readonly name: string;
  readonly stateMachineArn: string;
}

/** One execution as the API shows it. The runner fills it in as the execution goes. */
export interface RecordedExecution {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: Json;
  readonly startDate: Date;
  status: Status;
  stopDate?: Date;
  output?: Json;
  error?: string;
  cause?: string;
  readonly events: HistoryEvent[];
}

export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId: number;
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** What the API asks of the sandbox: start an execution of a workflow, with its name and input. */
export type StartExecution = (workflow: WorkflowName, name: string, input: Record<string, unknown>) => void;

const PAGE_SIZE = 1000;

export class SandboxStepFunctions {
  private readonly machines: SandboxStateMachine[];
  private readonly executions = new Map<string, RecordedExecution>();
  private readonly stops = new Map<string, () => void>();

  constructor(
    clusterName: string,
    private readonly stacks: { primary: SynthesizedStack; dr: SynthesizedStack },
    private readonly start: StartExecution,
  ) {
    this.machines = (Object.keys(WORKFLOWS) as WorkflowName[]).flatMap((workflow) => {
      const stack = this.stackOf(workflow);
      try {
        const logicalId = stateMachineLogicalId(stack, workflow);
        return [
          {
            workflow,
            name: stateMachineNameOf(clusterName, workflow),
            stateMachineArn: `arn:aws:states:${stack.env.region}:${stack.env.account}:stateMachine:${logicalId}`,
          },
        ];
      } catch {
        return [];
      }
    });
  }

  private stackOf(workflow: WorkflowName): SynthesizedStack {
    return WORKFLOWS[workflow].stack === 'dr' ? this.stacks.dr : this.stacks.primary;
  }

  /** The state machine of the workflow, as the API names it. */
  stateMachineArnOf(workflow: WorkflowName): string {
    return this.machineOf(workflow).stateMachineArn;
  }

  /** The execution ARN the runner gives an execution of the workflow with this name. */
  executionArnOf(workflow: WorkflowName, name: string): string {
    const machine = this.machineOf(workflow);
    return `${machine.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }

  private machineOf(workflow: WorkflowName): SandboxStateMachine {
    const machine = this.machines.find((candidate) => candidate.workflow === workflow);
    if (!machine) throw new Error(`The sandbox has no state machine for ${workflow}`);
    return machine;
  }

  /** The runner starts an execution (the API's, a scenario's, an alarm's or a rule's): from now on the API shows it. */
  begin(workflow: WorkflowName, name: string, input: Json, stop: () => void): RecordedExecution {
    const executionArn = this.executionArnOf(workflow, name);
    const startDate = new Date();
    const recorded: RecordedExecution = {
      executionArn,
      stateMachineArn: this.machineOf(workflow).stateMachineArn,
      name,
      input,
      startDate,
      status: 'RUNNING',
      events: [],
    };
    this.executions.set(executionArn, recorded);
    this.stops.set(executionArn, stop);
    return recorded;
  }

  /** An event of a recorded execution, as the runner saw it. */
  record(recorded: RecordedExecution, event: EventLog): void {
    for (const converted of historyEventsOf(event)) {
      const id = recorded.events.length + 1;
      recorded.events.push({ ...converted, id, previousEventId: id - 1, timestamp: event.timestamp / 1000 });
    }
  }

  /** The execution ended. */
  end(
    recorded: RecordedExecution,
    result: { status: ExecutionStatus; output?: Json; error?: string; cause?: string },
  ): void {
    recorded.status = result.status;
    recorded.stopDate = new Date();
    if (result.output !== undefined) recorded.output = result.output;
    if (result.error !== undefined) recorded.error = result.error;
    if (result.cause !== undefined) recorded.cause = result.cause;
    // Aborts and timeouts end without an event from the runner; the API's history closes with one.
    const closing = { ABORTED: 'ExecutionAborted', TIMED_OUT: 'ExecutionTimedOut' }[result.status as string];
    if (closing && recorded.events.at(-1)?.type !== closing) {
      const id = recorded.events.length + 1;
      recorded.events.push({ id, previousEventId: id - 1, timestamp: Date.now() / 1000, type: closing });
    }
    this.stops.delete(recorded.executionArn);
  }

  /** Answers one API call, by the operation of its X-Amz-Target; throws AwsErrorResponse as the service would. */
  handle(operation: string, request: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'ListStateMachines':
        return {
          stateMachines: this.machines.map((machine) => ({
            stateMachineArn: machine.stateMachineArn,
            name: machine.name,
            type: 'STANDARD',
            creationDate: 0,
          })),
        };
      case 'StartExecution':
        return this.startExecution(request);
      case 'DescribeExecution':
        return describe(this.executionOf(request.executionArn));
      case 'GetExecutionHistory':
        return this.history(request);
      case 'StopExecution':
        return this.stopExecution(request);
      case 'ListExecutions':
        return this.listExecutions(request);
      default:
        throw new AwsErrorResponse(
          'UnknownOperationException',
          `The sandbox does not serve Step Functions ${operation}`,
        );
    }
  }

  private startExecution(request: Record<string, unknown>): Record<string, unknown> {
    const machine = this.machines.find((candidate) => candidate.stateMachineArn === request.stateMachineArn);
    if (!machine) {
      throw new AwsErrorResponse(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${request.stateMachineArn}'`,
      );
    }
    const input = parseInput(request.input);
    const name = typeof request.name === 'string' && request.name ? request.name : crypto.randomUUID();
    const existing = this.executions.get(this.executionArnOf(machine.workflow, name));
    if (existing) {
      // As Step Functions does: the same name and input while it runs is the same execution; anything else is a clash.
      if (existing.status === 'RUNNING' && JSON.stringify(existing.input) === JSON.stringify(input)) {
        return { executionArn: existing.executionArn, startDate: seconds(existing.startDate) };
      }
      throw new AwsErrorResponse('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
    }
    this.start(machine.workflow, name, input);
    const started = this.executions.get(this.executionArnOf(machine.workflow, name));
    if (!started) throw new AwsErrorResponse('InternalFailure', `The sandbox did not start ${machine.workflow}`, 500);
    return { executionArn: started.executionArn, startDate: seconds(started.startDate) };
  }

  private history(request: Record<string, unknown>): Record<string, unknown> {
    const execution = this.executionOf(request.executionArn);
    const events = request.reverseOrder === true ? [...execution.events].reverse() : execution.events;
    const from = typeof request.nextToken === 'string' ? Number(request.nextToken) : 0;
    const size = typeof request.maxResults === 'number' && request.maxResults > 0 ? request.maxResults : PAGE_SIZE;
    const page = events.slice(from, from + size);
    return { events: page, ...(from + size < events.length ? { nextToken: String(from + size) } : {}) };
  }

  private stopExecution(request: Record<string, unknown>): Record<string, unknown> {
    const execution = this.executionOf(request.executionArn);
    if (execution.status === 'RUNNING') this.stops.get(execution.executionArn)?.();
    return { stopDate: seconds(execution.stopDate ?? new Date()) };
  }

  private listExecutions(request: Record<string, unknown>): Record<string, unknown> {
    const executions = [...this.executions.values()]
      .filter((execution) => !request.stateMachineArn || execution.stateMachineArn === request.stateMachineArn)
      .filter((execution) => !request.statusFilter || execution.status === request.statusFilter)
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
    return { executions: executions.map(summary) };
  }

  private executionOf(executionArn: unknown): RecordedExecution {
    const execution = typeof executionArn === 'string' ? this.executions.get(executionArn) : undefined;
    if (!execution) throw new AwsErrorResponse('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }
}

function parseInput(input: unknown): Record<string, unknown> {
  if (input === undefined) return {};
  try {
    const parsed = JSON.parse(String(input)) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new AwsErrorResponse('InvalidExecutionInput', 'The execution input must be a JSON object');
}

const seconds = (date: Date) => date.getTime() / 1000;

/** What ListExecutions gives of an execution. */
function summary(execution: RecordedExecution): Record<string, unknown> {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: seconds(execution.startDate),
    ...(execution.stopDate ? { stopDate: seconds(execution.stopDate) } : {}),
  };
}

function describe(execution: RecordedExecution): Record<string, unknown> {
  return {
    ...summary(execution),
    input: JSON.stringify(execution.input),
    ...(execution.output !== undefined ? { output: JSON.stringify(execution.output) } : {}),
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
  };
}

/** An event's type and details, before it gets its place in the history. */
interface Details {
  readonly type: string;
  readonly [details: string]: unknown;
}

/** The API's events for one of the local runner's: `TaskStateEntered` for a Task's StateEntered, and so on. */
export function historyEventsOf(event: EventLog): Details[] {
  const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? null));
  switch (event.type) {
    case 'ExecutionStarted':
      return [{ type: 'ExecutionStarted', executionStartedEventDetails: { input: text(event.input) } }];
    case 'ExecutionSucceeded':
      return [{ type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: text(event.output) } }];
    case 'ExecutionFailed':
      return [
        { type: 'ExecutionFailed', executionFailedEventDetails: { error: event.Error, cause: text(event.Cause) } },
      ];
    case 'StateEntered':
      return [
        {
          type: `${event.state.type}StateEntered`,
          stateEnteredEventDetails: { name: event.state.name, input: text(event.state.input) },
        },
      ];
    case 'StateExited':
      return [
        {
          type: `${event.state.type}StateExited`,
          stateExitedEventDetails: { name: event.state.name, output: text(event.state.output) },
        },
      ];
    case 'StateFailed':
      // Step Functions reports a failed Task as TaskFailed; other states fail the execution or their branch.
      return event.state.type === 'Task'
        ? [
            {
              type: 'TaskFailed',
              taskFailedEventDetails: {
                resourceType: 'lambda',
                resource: 'invoke',
                error: event.Error,
                cause: text(event.Cause),
              },
            },
          ]
        : [];
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed': {
      // mapIterationStartedEventDetails, and so on: the details are named after the event.
      const details = `${event.type[0]?.toLowerCase()}${event.type.slice(1)}EventDetails`;
      return [{ type: event.type, [details]: { name: event.parentState.name, index: event.index } }];
    }
    default:
      // Retries and catches show in the API as the task failing and being entered again, which the events above give.
      return [];
  }
}
