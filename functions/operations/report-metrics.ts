import type { MetricValue } from '../aws/metrics';
import type { ClusterModel } from '../domain/cluster-model';
import { METRIC_NAMES } from '../domain/metric-names';
import type { ShiftResult } from './shift-traffic';

/** A set of metrics with the dimensions they share. */
export interface MetricSet {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metrics: readonly MetricValue[];
}

/** After a shift: each slot's weight (weighted strategy), and how many healthy nodes serve. */
export function shiftMetrics(model: ClusterModel, result: ShiftResult): MetricSet[] {
  const cluster = { Cluster: model.name };
  const slots =
    model.traffic.strategy === 'weighted-target-groups'
      ? result.weights.map((entry) => ({
          dimensions: { ...cluster, Slot: entry.slot },
          metrics: [{ name: METRIC_NAMES.slotWeight, value: entry.weight, unit: 'None' as const }],
        }))
      : [];
  return [
    ...slots,
    {
      dimensions: cluster,
      metrics: [{ name: METRIC_NAMES.healthyServing, value: result.capacity.servingAfter, unit: 'Count' }],
    },
  ];
}

interface FailoverTimeline {
  readonly detectedAt?: unknown;
  readonly trafficMovedAt?: unknown;
  readonly redundancyRestoredAt?: unknown;
}

const secondsBetween = (from: unknown, to: unknown): number | undefined => {
  if (typeof from !== 'string' || typeof to !== 'string') return undefined;
  const seconds = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 100) / 100 : undefined;
};

/**
 * A failover's times from its report's timeline: the traffic move, reported once traffic moved, and redundancy,
 * reported at the end. Each is counted once, by the report that first has it.
 */
export function failoverMetrics(cluster: string, workflow: string, detail: unknown): MetricSet[] {
  if (workflow !== 'failover' || !detail || typeof detail !== 'object') return [];
  const timeline = (detail as { timeline?: FailoverTimeline }).timeline;
  if (!timeline) return [];
  const restored = secondsBetween(timeline.detectedAt, timeline.redundancyRestoredAt);
  const moved = secondsBetween(timeline.detectedAt, timeline.trafficMovedAt);
  const metrics: MetricValue[] =
    timeline.redundancyRestoredAt !== undefined
      ? restored === undefined
        ? []
        : [{ name: METRIC_NAMES.failoverRedundancyRestored, value: restored, unit: 'Seconds' }]
      : moved === undefined
        ? []
        : [{ name: METRIC_NAMES.failoverTrafficMoved, value: moved, unit: 'Seconds' }];
  return metrics.length > 0 ? [{ dimensions: { Cluster: cluster }, metrics }] : [];
}
