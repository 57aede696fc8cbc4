import type { HistoryEvent } from '@aws-sdk/client-sfn';

/**
 * What an operator follows of a run, built from the execution's history alone (so a run on AWS and one in the
 * sandbox read the same): the steps with their times, the step running now, the failures, the listener's weights
 * after the last shift, and whether the run is rolling back.
 */

export interface StepView {
  readonly name: string;
  /** The state's type: Task, Wait, Pass, Choice, ... */
  readonly kind: string;
  readonly enteredAt: Date;
  exitedAt?: Date;
  /** The step's error, when a task of it failed (a retry may still have succeeded). */
  failed?: string;
}

export interface ProgressView {
  readonly steps: StepView[];
  /** The step entered last and not yet left, while the execution runs. */
  readonly current: StepView | undefined;
  readonly failures: { readonly step: string; readonly error: string; readonly cause: string }[];
  /** The weights the last traffic shift read back, such as `a=0 b=100 surge=0`. */
  readonly weights: string | undefined;
  /** A step of the rollback path has run. */
  readonly rollingBack: boolean;
  /** The execution's end, as its last event says: SUCCEEDED, FAILED, ABORTED, TIMED_OUT; undefined while it runs. */
  readonly ended: string | undefined;
  readonly error: string | undefined;
  readonly cause: string | undefined;
}

const ROLLBACK_STEP = /^Roll back\b|rolling back/i;
const END_EVENTS: Record<string, string> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionAborted: 'ABORTED',
  ExecutionTimedOut: 'TIMED_OUT',
};

export function progressOf(events: readonly HistoryEvent[]): ProgressView {
  const steps: StepView[] = [];
  const failures: ProgressView['failures'] = [];
  let weights: { at: string; text: string } | undefined;
  let ended: string | undefined;
  let error: string | undefined;
  let cause: string | undefined;
  const open = () => [...steps].reverse().find((step) => step.exitedAt === undefined);
  for (const event of events) {
    const type = event.type ?? '';
    const at = event.timestamp ?? new Date();
    if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
      steps.push({ name: event.stateEnteredEventDetails.name, kind: type.replace(/StateEntered$/, ''), enteredAt: at });
    } else if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
      const name = event.stateExitedEventDetails.name;
      const step = [...steps].reverse().find((candidate) => candidate.name === name && !candidate.exitedAt);
      if (step) step.exitedAt = at;
      const shifted = lastShift(event.stateExitedEventDetails.output);
      if (shifted && (!weights || shifted.at >= weights.at)) weights = shifted;
    } else if (type === 'TaskFailed' || type === 'LambdaFunctionFailed') {
      const details = event.taskFailedEventDetails ?? event.lambdaFunctionFailedEventDetails;
      const step = open();
      if (step) step.failed = details?.error ?? 'failed';
      failures.push({ step: step?.name ?? '?', error: details?.error ?? 'failed', cause: details?.cause ?? '' });
    } else if (END_EVENTS[type]) {
      ended = END_EVENTS[type];
      const details = event.executionFailedEventDetails ?? event.executionAbortedEventDetails;
      error = details?.error ?? error;
      cause = details?.cause ?? cause;
    }
  }
  return {
    steps,
    current: ended ? undefined : open(),
    failures,
    weights: weights?.text,
    rollingBack: steps.some((step) => ROLLBACK_STEP.test(step.name)),
    ended,
    error,
    cause,
  };
}

/** The newest traffic shift in a state's output: any object with `weights` (slot and weight each) and `shiftedAt`. */
function lastShift(output: string | undefined): { at: string; text: string } | undefined {
  if (!output) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(output);
  } catch {
    return undefined;
  }
  let newest: { at: string; text: string } | undefined;
  const visit = (value: unknown, depth: number) => {
    if (!value || typeof value !== 'object' || depth > 6) return;
    const candidate = value as { weights?: unknown; shiftedAt?: unknown };
    if (Array.isArray(candidate.weights) && typeof candidate.shiftedAt === 'string') {
      const text = (candidate.weights as { slot?: string; weight?: number }[])
        .map((entry) => `${entry.slot}=${entry.weight}`)
        .join(' ');
      if (!newest || candidate.shiftedAt >= newest.at) newest = { at: candidate.shiftedAt, text };
    }
    for (const child of Object.values(value)) visit(child, depth + 1);
  };
  visit(document, 0);
  return newest;
}

/** The loops' bookkeeping (Pass and Choice states) would drown the steps an operator follows. */
export const isOperatorStep = (step: StepView) => step.kind !== 'Pass' && step.kind !== 'Choice';

const seconds = (from: Date, to: Date) => `${((to.getTime() - from.getTime()) / 1000).toFixed(1)}s`;

/** One line per step, with its time: what a terminal that is not a TTY (a pipeline's log) gets. */
export function stepLine(step: StepView, now: Date): string {
  const time = step.exitedAt ? seconds(step.enteredAt, step.exitedAt) : `${seconds(step.enteredAt, now)}…`;
  return `${step.failed ? '✗' : step.exitedAt ? '✓' : '›'} ${step.name} (${time})${step.failed ? ` ${step.failed}` : ''}`;
}

export function summaryLine(view: ProgressView, executionArn: string): string {
  const status = view.ended ?? 'RUNNING';
  const rollback = view.rollingBack ? ' after rolling back' : '';
  const weights = view.weights ? `; weights ${view.weights}` : '';
  const why = view.error ? `: ${view.error}${view.cause ? ` (${firstLine(view.cause)})` : ''}` : '';
  return `${status}${rollback}${why}${weights} — ${executionArn}`;
}

/** A Lambda error's cause is a JSON document; its message is what an operator needs. */
function firstLine(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) return parsed.errorMessage;
  } catch {
    // not JSON: the cause as it is
  }
  return cause.split('\n')[0]?.slice(0, 200) ?? '';
}
