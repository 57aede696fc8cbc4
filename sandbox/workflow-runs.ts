import { ENDED_WITHOUT_SUCCESS } from '../cdk/constructs/workflows';
import { WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import { definitionOf, prepareStack, runLocally, stateMachineLogicalId } from '../local/local-sfn';
import type { SynthesizedStack } from '../local/synth';
import { alarmRoutesOf, matchesPattern, transformInput } from './alarms';
import type { SandboxCluster } from './cluster';
import type { DataPlane } from './data-plane';
import type { ExecutionReport } from './report';
import type { RunContext } from './run-context';
import type { SandboxStepFunctions } from './step-functions-api';

/** A workflow to start and its input, from a scenario step or from an alarm's rule. */
export interface WorkflowStart {
  readonly start: WorkflowName;
  readonly input: Record<string, unknown>;
  /** The execution's name, as StartExecution takes it. @default - a random UUID */
  readonly executionName?: string;
}

interface WorkflowContext {
  readonly stackFor: (workflow: WorkflowName) => SynthesizedStack;
  readonly clusterName: string;
  readonly timeScale: number;
  /** Stops this workflow (a scenario's `abort` fault) or, through the run's signal, every workflow. */
  readonly signal: AbortSignal;
  /** Date.now() when the sandbox run started; state times count from there. */
  readonly runStarted: number;
  readonly onState: (workflow: string, name: string, type: string) => void;
  /** The Step Functions API that shows the execution, when the sandbox serves one. */
  readonly api: SandboxStepFunctions | undefined;
  readonly stop: () => void;
}

/** What a caller follows of one workflow: the states it enters, and its report when it ends. */
export interface WorkflowHooks {
  /** A state was entered; `stop` stops the execution, as StopExecution would. */
  readonly onState?: (name: string, stop: () => void) => void;
  readonly onEnd?: (report: ExecutionReport) => void;
}

const PROGRESS_STATE_TYPES = new Set(['Task', 'Wait', 'Succeed', 'Fail']);

/**
 * Gets the cluster's stacks ready before the load starts, as the deployed engine is always up: a workflow, an alarm's
 * included, starts at once, and loading a handler's sources (seconds on a busy machine) never counts as a workflow's
 * time.
 */
export function prepareWorkflows(cluster: SandboxCluster): void {
  for (const ready of cluster.drSite ? [cluster.stack, cluster.drStack] : [cluster.stack]) prepareStack(ready);
}

/**
 * The workflows of a run, started by its steps and by alarms, with a line of progress at each state an operator
 * follows: the listener's weights, where DNS points, the healthy serving capacity and the requests so far.
 */
export class WorkflowRuns {
  private readonly executions: Promise<ExecutionReport>[] = [];
  private readonly runningByWorkflow = new Map<WorkflowName, number>();
  /** The Step Functions API that shows every execution of the run, once the sandbox serves one. */
  api: SandboxStepFunctions | undefined;

  constructor(
    private readonly run: RunContext,
    private readonly cluster: SandboxCluster,
    private readonly plane: DataPlane,
    /** Target groups serving with a healthy target when the load started. */
    private readonly baselineServing: number,
  ) {}

  start(step: WorkflowStart, trigger: ExecutionReport['trigger'], hooks: WorkflowHooks = {}): void {
    const { run, cluster } = this;
    run.log(`start ${step.start} ${JSON.stringify(step.input)}`);
    const stopping = new AbortController();
    const stop = () => {
      run.log(`stop ${step.start} (as StopExecution would)`);
      stopping.abort();
    };
    const context: WorkflowContext = {
      stackFor: (workflow) => (WORKFLOWS[workflow].stack === 'dr' ? cluster.drStack : cluster.stack),
      clusterName: cluster.name,
      timeScale: run.scenario.timeScale,
      signal: run.signal ? AbortSignal.any([run.signal, stopping.signal]) : stopping.signal,
      runStarted: run.started,
      onState: (workflow, name, type) => {
        hooks.onState?.(name, stop);
        // The loops' bookkeeping (Pass and Choice states) would drown the steps an operator follows.
        if (PROGRESS_STATE_TYPES.has(type)) run.log(this.describeProgress(workflow, name));
      },
      api: this.api,
      stop,
    };
    const { onEnd } = hooks;
    const count = (change: number) =>
      this.runningByWorkflow.set(step.start, (this.runningByWorkflow.get(step.start) ?? 0) + change);
    count(1);
    const finished = runWorkflow(step, context, trigger).finally(() => count(-1));
    const execution = finished.then(({ report, executionArn }) => {
      onEnd?.(report);
      // Started before this execution's promise settles, so `ended()` waits for what the rules start too.
      this.routeStatusChange(context.stackFor(step.start), step.start, executionArn, report);
      return report;
    });
    this.executions.push(execution);
  }

  /**
   * As deployed, EventBridge sees Step Functions' status change of every execution that ends without success, and
   * the stack's rules on it start `recover`: the sandbox plays that event through the same rules.
   */
  private routeStatusChange(
    stack: SynthesizedStack,
    workflow: WorkflowName,
    executionArn: string,
    report: ExecutionReport,
  ): void {
    if (!(ENDED_WITHOUT_SUCCESS as readonly string[]).includes(report.status)) return;
    const logicalId = stateMachineLogicalId(stack, workflow);
    const event = {
      version: '0',
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      detail: {
        executionArn,
        stateMachineArn: `arn:aws:states:${stack.env.region}:${stack.env.account}:stateMachine:${logicalId}`,
        status: report.status,
        error: report.error ?? null,
        cause: report.cause ?? null,
      },
    };
    for (const route of alarmRoutesOf(stack).filter((candidate) => matchesPattern(candidate.pattern, event))) {
      if (route.workflow) {
        this.start({ start: route.workflow, input: transformInput(route, event) as Record<string, unknown> }, 'rule');
      }
    }
  }

  /** Whether an execution of the workflow is running now. */
  running(workflow: WorkflowName): boolean {
    return (this.runningByWorkflow.get(workflow) ?? 0) > 0;
  }

  /** Waits for every workflow started so far: their reports, and whether none started while they ran. */
  async ended(): Promise<{ reports: ExecutionReport[]; noneStarted: boolean }> {
    const reports = await Promise.all([...this.executions]);
    return { reports, noneStarted: reports.length === this.executions.length };
  }

  private describeProgress(workflow: string, state: string): string {
    const view = this.plane.view();
    const weights = view.weights.map(([arn, weight]) => `${this.cluster.slotOf.get(arn) ?? arn}=${weight}`).join(' ');
    const dns = view.dns === null ? '' : ` | DNS → ${view.dns === 'dr' ? 'DR' : 'primary'}`;
    return (
      `${workflow} › ${state} | ${weights}${dns} | healthy serving ${view.servingHealthy}/${this.baselineServing} | ` +
      `requests ${view.ok} ok, ${view.failed} failed`
    );
  }
}

/**
 * Runs one workflow of the scenario with the real handlers, and reports it: status, states entered, and its time
 * split into waiting on the world (Wait states: drains, bakes, the pauses between polls) and orchestration (Lambda
 * calls, polls and state transitions).
 */
async function runWorkflow(
  step: WorkflowStart,
  context: WorkflowContext,
  trigger: ExecutionReport['trigger'],
): Promise<{ report: ExecutionReport; executionArn: string }> {
  const workflow = step.start;
  const stack = context.stackFor(workflow);
  const waits = new Set(
    Object.entries(definitionOf(stack, stateMachineLogicalId(stack, workflow)).States)
      .filter(([, state]) => state.Type === 'Wait')
      .map(([name]) => name),
  );
  const states: { name: string; at: number; type: string; retries: number; afterFailure: boolean }[] = [];
  let caught = false;
  let waitingMs = 0;
  let waitEnteredAt = 0;
  const startedAt = new Date();
  const input = { cluster: context.clusterName, ...step.input };
  const executionName = step.executionName ?? crypto.randomUUID();
  const recorded = context.api?.begin(workflow, executionName, input as never, context.stop);
  const result = await runLocally({
    stack,
    stateMachine: workflow,
    input: input as never,
    executionName,
    timeScale: context.timeScale,
    signal: context.signal,
    onEvent: (event) => {
      if (recorded) context.api?.record(recorded, event);
      if ('state' in event && waits.has(event.state.name)) {
        if (event.type === 'StateEntered') waitEnteredAt = Date.now();
        if (event.type === 'StateExited') waitingMs += Date.now() - waitEnteredAt;
      }
      // A retry is counted on the state it retries; a caught failure sends every state after it on the failure path.
      if (event.type === 'StateRetried') {
        const retried = states.findLast((state) => state.name === event.state.name);
        if (retried) retried.retries += 1;
      }
      if (event.type === 'StateCaught') caught = true;
      if (event.type !== 'StateEntered') return;
      states.push({
        name: event.state.name,
        at: Date.now() - context.runStarted,
        type: event.state.type,
        retries: 0,
        afterFailure: caught,
      });
      context.onState(workflow, event.state.name, event.state.type);
    },
  });
  if (recorded) context.api?.end(recorded, result);
  const report: ExecutionReport = {
    workflow,
    trigger,
    input,
    status: result.status,
    durationSeconds: result.durationMs / 1000,
    waitingSeconds: waitingMs / 1000,
    orchestrationSeconds: (result.durationMs - waitingMs) / 1000,
    ...(result.error ? { error: result.error } : {}),
    ...(result.cause ? { cause: result.cause } : {}),
    ...rtoOf(result.output, context.timeScale),
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    stateTransitions: result.stateTransitions,
    states,
  };
  return { report, executionArn: result.executionArn };
}

/** A workflow that reports an RTO (region failover, drill) measures it in real seconds; the report gives AWS's. */
function rtoOf(output: unknown, timeScale: number): { rtoSeconds?: number } {
  const measured = (output as { rtoSeconds?: unknown } | undefined)?.rtoSeconds;
  return typeof measured === 'number' ? { rtoSeconds: Math.round((measured / timeScale) * 100) / 100 } : {};
}
