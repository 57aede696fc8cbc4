import { summarize } from '../../sandbox/load';

describe('summarize', () => {
  it('counts failures by cause, and those a busy machine explains apart', () => {
    const summary = summarize([
      { at: 0, status: 200, latencyMs: 3, node: 'i-a' },
      { at: 10, status: 502, latencyMs: 1, node: 'i-a', cause: 'target-down' },
      { at: 20, status: 502, latencyMs: 1, node: 'i-a', cause: 'target-down' },
      { at: 30, status: 504, latencyMs: 60_000, node: 'i-b', cause: 'target-timeout' },
      { at: 40, status: 0, latencyMs: 70_000, error: 'no answer within 70000 ms', cause: 'client-timeout' },
      { at: 50, status: 500, latencyMs: 2, node: 'i-b' },
    ]);

    expect(summary).toMatchObject({
      total: 6,
      ok: 1,
      failed: 5,
      failedByCause: { 'target-down': 2, 'target-timeout': 1, 'client-timeout': 1, 'node-error': 1 },
      failedUnderLoad: 2,
      byNode: { 'i-a': 3, 'i-b': 2 },
    });
    expect(summary.failures).toHaveLength(5);
  });
});
