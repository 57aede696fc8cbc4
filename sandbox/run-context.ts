import type { Scenario } from './scenario';

/** What every part of a sandbox run shares: its scenario, its clock, its progress output and its stop signal. */
export interface RunContext {
  readonly scenario: Scenario;
  /** Date.now() when the run started. */
  readonly started: number;
  /** Scenario seconds to real milliseconds. */
  readonly scaled: (seconds: number) => number;
  /** Reports a line of progress as it is. */
  readonly progress: (line: string) => void;
  /** Reports a line of progress stamped with the seconds since the run started. */
  readonly log: (line: string) => void;
  /** Logs a line and keeps it as an event of the run's timeline (a fault, an alarm), with the time it happened. */
  readonly note: (kind: RunEvent['kind'], line: string, instanceId?: string) => void;
  /** The events noted so far, in order. */
  readonly events: readonly RunEvent[];
  /** Aborting stops the run and cleans up. */
  readonly signal: AbortSignal | undefined;
}

/** A moment of the run that explains the rest: a fault that struck, an alarm that changed. */
export interface RunEvent {
  /** Date.now() when it happened. */
  readonly at: number;
  readonly kind: 'fault' | 'alarm';
  readonly label: string;
  /** The node a fault struck. */
  readonly instanceId?: string;
}

export function startRun(
  scenario: Scenario,
  options: { onProgress?: (line: string) => void; signal?: AbortSignal },
): RunContext {
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const clock = () => ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  const log = (line: string) => progress(`[${clock()}s] ${line}`);
  const events: RunEvent[] = [];
  return {
    scenario,
    started,
    scaled: (seconds) => seconds * 1000 * scenario.timeScale,
    progress,
    log,
    note: (kind, line, instanceId) => {
      events.push({ at: Date.now(), kind, label: line, ...(instanceId ? { instanceId } : {}) });
      log(line);
    },
    events,
    signal: options.signal,
  };
}

export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Error('The sandbox run was interrupted');
}

/** Sleeps until `time` (as Date.now()), or throws as soon as the run is interrupted. */
export async function sleepUntil(time: number, signal: AbortSignal | undefined): Promise<void> {
  while (Date.now() < time) {
    throwIfInterrupted(signal);
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, time - Date.now())));
  }
}

/** Polls `done` until it holds; throws when the run is interrupted or `timeoutMs` has passed. */
export async function waitUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    throwIfInterrupted(signal);
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
