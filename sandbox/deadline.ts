/**
 * A deadline that gives up only after the answers that arrived in the meantime have been read.
 *
 * When the machine is busy, this process may not run for a while. Its timers then fire late, in the same turn of the
 * event loop as the I/O that came in while it was not running, and timers run first. A plain timeout would declare a
 * request lost although its answer is already waiting in the socket. The verdict is therefore deferred to the check
 * phase (`setImmediate`), which comes after the poll phase that reads pending I/O: a slow machine gives slower
 * answers, not timeouts.
 *
 * Returns a function that cancels the deadline.
 */
export function deadlineAfterPendingIo(ms: number, onExpired: () => void): () => void {
  let cancelled = false;
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(() => {
      if (!cancelled) onExpired();
    });
  }, ms);
  return () => {
    cancelled = true;
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}
