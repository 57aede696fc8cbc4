import * as fs from 'node:fs';
import * as path from 'node:path';
import { sandboxEvidence } from '../../sandbox/evidence';
import type { SandboxReport } from '../../sandbox/report';

/**
 * A sandbox run's evidence, from the JSON report of a real run of sandbox/scenarios/failover.json (the active node
 * killed at 10 s under 100 requests a second), kept as a fixture: re-record it with
 * `node cli/zerodown.cjs sandbox run --scenario sandbox/scenarios/failover.json --report <file>`.
 */
const report = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'sandbox-reports', 'failover.json'), 'utf8'),
) as SandboxReport;

describe('the evidence of a sandbox run', () => {
  const evidence = sandboxEvidence(report, new Date('2026-12-01T00:00:00Z'));
  const failover = report.failover;

  it('puts the failed requests of the node loss between its death and the traffic moved', () => {
    const { at, failed } = evidence.traffic ?? { at: [], failed: [] };
    const failedAt = at.filter((_, index) => (failed[index] ?? 0) > 0);

    expect(failedAt.length).toBeGreaterThan(0);
    // A bucket is one real second wide: it starts at most one bucket before the death it holds failures of.
    const bucket = 1 / report.timeScale;
    for (const second of failedAt) {
      expect(second).toBeGreaterThan((failover?.diedAt ?? 0) - bucket);
      expect(second).toBeLessThan(failover?.trafficRestoredAt ?? 0);
    }
    expect(failed.reduce((sum, count) => sum + count, 0)).toBe(report.requests.failed);
  });

  it('marks the death, the detection, the weights written and moved, and redundancy, in order', () => {
    const kinds = evidence.markers.map((marker) => marker.kind);

    expect(kinds).toEqual(
      expect.arrayContaining(['fault', 'detected', 'weights-written', 'weights-moved', 'redundancy']),
    );
    const at = (kind: string) => evidence.markers.find((marker) => marker.kind === kind)?.at ?? Number.NaN;
    expect(at('fault')).toBeLessThanOrEqual(at('detected'));
    expect(at('detected')).toBeLessThanOrEqual(at('weights-written'));
    expect(at('weights-written')).toBeLessThanOrEqual(at('weights-moved'));
    expect(at('weights-moved')).toBeLessThanOrEqual(at('redundancy'));
  });

  it('shows the killed node serving until its death, and the survivor serving after the move', () => {
    const lane = (id: string) => evidence.nodes.find((node) => node.id === id)?.phases ?? [];
    const killed =
      report.timeline.events.find((event) => event.kind === 'fault')?.label.match(/\((i-\w+)\)/)?.[1] ?? '';

    expect(lane(killed).map((phase) => phase.phase)).toEqual(['serving', 'dead', 'replaced']);
    expect(lane(killed).at(-1)?.from).toBe(failover?.redundancyRestoredAt);
    const survivor = report.finalState.nodes.find((node) => node.role === 'manager')?.id ?? '';
    expect(lane(survivor).at(-1)).toMatchObject({ phase: 'serving' });
    expect(lane(survivor).at(-1)?.from).toBeGreaterThanOrEqual(failover?.weightsWrittenAt ?? Number.NaN);
  });

  it('gives every execution a lane of its states on the same axis, and keeps the expectations', () => {
    expect(evidence.executions.map((lane) => `${lane.workflow} ${lane.trigger}`)).toEqual(
      report.executions.map((execution) => `${execution.workflow} ${execution.trigger}`),
    );
    for (const lane of evidence.executions) {
      for (const state of lane.states) {
        expect(state.to).toBeGreaterThanOrEqual(state.from);
        expect(state.from).toBeGreaterThanOrEqual(evidence.span.from);
        expect(state.to).toBeLessThanOrEqual(evidence.span.to);
      }
    }
    expect(evidence.expectations?.every((expectation) => expectation.holds)).toBe(true);
    expect(evidence.timeUnit).toBe('scenario seconds');
  });
});
