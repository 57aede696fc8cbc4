import type { ClusterModel, CommandKind } from '../cluster-model';
import { PlanTooLongError } from '../errors';
import { LONGEST_OPERATION_SECONDS, TASK_TIMEOUT_HEADROOM_SECONDS } from '../workflows';
import type { ShiftPlan } from './shift-stages';

/**
 * How long a plan may take at worst, against how long its state machine may run. A workflow that cannot finish
 * inside its execution timeout is cut off by Step Functions without running its Catch: the plan refuses it, before the
 * lock, instead.
 */

/** What the state machine allows: its execution timeout and the timings its loops run by. */
export interface ExecutionBudget {
  readonly executionTimeoutSeconds: number;
  readonly pollIntervalSeconds: number;
  readonly readyTimeoutSeconds: number;
}

/** The worst case of one plan, by what takes the time. */
export interface WorstCase {
  readonly bakes: number;
  readonly drains: number;
  readonly commands: number;
  readonly bootWaits: number;
  readonly fileSync: number;
  /** Database snapshots and baked images, each waited for until its timeout. */
  readonly snapshots: number;
  /** Every Lambda step at its timeout, the frame's included. */
  readonly steps: number;
}

export interface PlanDuration {
  readonly worstCaseSeconds: number;
  readonly executionTimeoutSeconds: number;
  readonly worstCase: WorstCase;
}

/** A Lambda step's task timeout, the most a step other than a wait or a poll can take. */
export const STEP_SECONDS = LONGEST_OPERATION_SECONDS + TASK_TIMEOUT_HEADROOM_SECONDS;
/** Every step that changes the cluster passes the lock's fence first: a step of its own. */
const FENCED = 2;
/** Validate, read, plan, lock, snapshot, plan again, release and report. */
const FRAME_STEPS = 8;

/** Adds up a worst case from its parts; every builder below returns one. */
export class WorstCaseTally {
  private readonly parts: { -readonly [K in keyof WorstCase]: number } = {
    bakes: 0,
    drains: 0,
    commands: 0,
    bootWaits: 0,
    fileSync: 0,
    snapshots: 0,
    steps: FRAME_STEPS * STEP_SECONDS,
  };

  constructor(
    private readonly model: ClusterModel,
    private readonly budget: ExecutionBudget,
  ) {}

  /** A command sent and polled until its own timeout, the last poll one interval late. */
  command(kind: CommandKind, times = 1): this {
    const timeout = this.model.commands[kind]?.timeoutSeconds ?? 0;
    this.parts.commands += times * (timeout + this.budget.pollIntervalSeconds);
    this.parts.steps += times * FENCED * STEP_SECONDS;
    return this;
  }

  /** A node started or restarted, waited for until the ready timeout, then verified. */
  nodeUp(times = 1): this {
    this.parts.bootWaits += times * this.budget.readyTimeoutSeconds;
    this.parts.steps += times * 2 * STEP_SECONDS;
    return this;
  }

  /** A surge node launched and made ready. */
  surge(): this {
    this.parts.steps += FENCED * STEP_SECONDS;
    return this.nodeUp();
  }

  /** The surge node taken out, drained and terminated (its end is polled for as long as a boot). */
  retire(keepSurge: boolean): this {
    if (keepSurge) return this;
    this.parts.drains += this.model.capacity.drainSeconds;
    this.parts.bootWaits += this.budget.readyTimeoutSeconds;
    // Deregister and terminate, each fenced.
    this.parts.steps += 2 * FENCED * STEP_SECONDS;
    return this;
  }

  /** A traffic move: each stage shifts, bakes and checks the alarms; the drain follows the last. */
  shift(plan: ShiftPlan | null | undefined): this {
    if (!plan) return this;
    for (const stage of plan.stages) {
      this.parts.bakes += stage.bakeSeconds;
      // The fenced shift, then the alarms.
      this.parts.steps += (FENCED + 1) * STEP_SECONDS;
    }
    this.parts.drains += plan.drainSeconds;
    return this;
  }

  /** A worker waited for until file sync brings it the change, smoke test after smoke test. */
  fileSync(workers: number, syncTimeoutSeconds: number): this {
    this.parts.fileSync += workers * syncTimeoutSeconds;
    this.parts.steps += workers * STEP_SECONDS;
    return this;
  }

  /** A snapshot or an image started, then polled until it is available or its timeout. */
  snapshot(timeoutSeconds: number): this {
    this.parts.snapshots += timeoutSeconds + this.budget.pollIntervalSeconds;
    this.parts.steps += (FENCED + 1) * STEP_SECONDS;
    return this;
  }

  /** Any other Lambda steps. */
  steps(count: number): this {
    this.parts.steps += count * STEP_SECONDS;
    return this;
  }

  total(): PlanDuration {
    const worstCase = { ...this.parts };
    const worstCaseSeconds = Object.values(worstCase).reduce((sum, seconds) => sum + seconds, 0);
    return { worstCaseSeconds, executionTimeoutSeconds: this.budget.executionTimeoutSeconds, worstCase };
  }
}

/** How many polls, one every `pollIntervalSeconds`, a wait of at most `timeoutSeconds` takes. */
export function pollsWithin(timeoutSeconds: number, pollIntervalSeconds: number): number {
  return Math.max(1, Math.ceil(timeoutSeconds / pollIntervalSeconds));
}

/** Refuses, with `PlanTooLongError`, a plan that may not finish before its execution times out. */
export function requireFitsExecution(workflow: string, duration: PlanDuration): void {
  if (duration.worstCaseSeconds <= duration.executionTimeoutSeconds) return;
  const parts = Object.entries(duration.worstCase)
    .filter(([, seconds]) => seconds > 0)
    .map(([part, seconds]) => `${part} ${seconds} s`)
    .join(', ');
  throw new PlanTooLongError(
    `${workflow} may take up to ${duration.worstCaseSeconds} s (${parts}), more than its state machine's ` +
      `execution timeout of ${duration.executionTimeoutSeconds} s: use fewer stages or shorter bakes, or give the ` +
      'cluster a longer workflowTimeout',
  );
}

/**
 * The commands of a model that the state machine could not wait for: a command's own timeout, with one poll and
 * the frame's steps, must fit inside the execution timeout. ZeroDownCluster refuses such a model at synthesis.
 */
export function commandsTooLongFor(
  model: ClusterModel,
  budget: Omit<ExecutionBudget, 'readyTimeoutSeconds'>,
): { kind: CommandKind; timeoutSeconds: number }[] {
  const room = budget.executionTimeoutSeconds - budget.pollIntervalSeconds - (FRAME_STEPS + FENCED) * STEP_SECONDS;
  return Object.entries(model.commands)
    .filter(([, spec]) => spec !== undefined && spec.timeoutSeconds > room)
    .map(([kind, spec]) => ({ kind: kind as CommandKind, timeoutSeconds: spec?.timeoutSeconds ?? 0 }));
}
