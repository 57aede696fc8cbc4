/**
 * Waiting inside a node that may be closed at any moment: no timer here keeps the process, or a closed node, waiting.
 */

export function unrefDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Sleeps that the node can cut short all at once when it closes. */
export class Sleeper {
  private readonly sleeps = new Set<() => void>();

  /** Resolves after `ms`, or at once when the node closes, so no timer outlives close(). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeps.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of this.sleeps) wake();
  }
}
