import type { HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { describeExecution, historySince } from './executions';
import { isOperatorStep, type ProgressView, progressOf, stepLine, summaryLine } from './progress';

/** The steps that renew the lock and pace a poll: every workflow has many, and none tells the operator anything. */
const BOOKKEEPING = /^(Hold the lock|Renew to drain|Wait before polling again):/;

export interface WatchOptions {
  /** Redraws the running step in place; otherwise every line is final (a pipeline's log, a file). */
  readonly tty: boolean;
  readonly write: (text: string) => void;
  /** Stops following after this long; the execution goes on. */
  readonly timeoutMs: number;
  readonly pollMs?: number;
  /** Print nothing while following (--json prints the end only). */
  readonly quiet?: boolean;
}

export interface WatchResult {
  readonly executionArn: string;
  readonly status: string;
  readonly view: ProgressView;
  readonly output?: unknown;
}

/**
 * Follows an execution from its history until it ends, printing each step as it finishes (and, on a terminal, the
 * step running now with its time so far), the weights after every shift, and the failures. Bounded by `timeoutMs`.
 */
export async function watchExecution(
  sfn: SFNClient,
  executionArn: string,
  options: WatchOptions,
): Promise<WatchResult> {
  const pollMs = options.pollMs ?? 1_000;
  const deadline = Date.now() + options.timeoutMs;
  const printed = new Set<number>();
  const printedNames = new Set<string>();
  let shownWeights: string | undefined;
  let statusLine = false;
  const write = (text: string) => {
    if (options.quiet) return;
    if (statusLine) options.write('\r\x1b[K');
    statusLine = false;
    options.write(text);
  };
  let events: HistoryEvent[] = [];
  for (;;) {
    // Described first: the history read after it then holds every event up to the status it reports.
    const described = await describeExecution(sfn, executionArn);
    events = [...events, ...(await historySince(sfn, executionArn, events.at(-1)?.id ?? 0))];
    const view = progressOf(events);
    const now = new Date();
    view.steps.forEach((step, index) => {
      if (!step.exitedAt || printed.has(index)) return;
      printed.add(index);
      // A polling loop shows its step once, unless a pass of it failed; the lock's bookkeeping not at all.
      if (!isOperatorStep(step) || BOOKKEEPING.test(step.name)) return;
      if (printedNames.has(step.name) && !step.failed) return;
      printedNames.add(step.name);
      write(`${stepLine(step, now)}\n`);
    });
    if (view.weights && view.weights !== shownWeights) {
      shownWeights = view.weights;
      write(`  weights ${view.weights}\n`);
    }
    const status = described.status ?? 'RUNNING';
    if (status !== 'RUNNING') {
      const output = described.output ? safeJson(described.output) : undefined;
      write(
        `${summaryLine({ ...view, ended: status, error: view.error ?? described.error, cause: view.cause ?? described.cause }, executionArn)}\n`,
      );
      return { executionArn, status, view, ...(output !== undefined ? { output } : {}) };
    }
    if (Date.now() > deadline) {
      write(
        `still RUNNING after ${Math.round(options.timeoutMs / 1000)}s; follow it again with: zerodown watch ${executionArn}\n`,
      );
      return { executionArn, status, view };
    }
    if (options.tty && !options.quiet && view.current && isOperatorStep(view.current)) {
      if (statusLine) options.write('\r\x1b[K');
      options.write(stepLine(view.current, now));
      statusLine = true;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
