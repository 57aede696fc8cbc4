import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, POWERTOOLS_SERVICE } from '../domain/metric-names';
import { insideLambda } from './observability';

/**
 * Metrics in CloudWatch's embedded metric format, through Powertools' Metrics: one JSON line on stdout per set of
 * dimensions, which CloudWatch Logs turns into metrics as the function's log group receives it. No SDK call and no
 * permission; the log group's key and retention apply. Each metric carries the `service` dimension Powertools adds.
 */
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: POWERTOOLS_SERVICE });

export type MetricUnit = 'Count' | 'Seconds' | 'None';

export interface MetricValue {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}

/** Writes one set of metrics with these dimensions at once; outside Lambda, nothing (see `insideLambda`). */
export function emitMetrics(dimensions: Readonly<Record<string, string>>, values: readonly MetricValue[]): void {
  if (!insideLambda() || values.length === 0) return;
  for (const [name, value] of Object.entries(dimensions)) metrics.addDimension(name, value);
  for (const metric of values) metrics.addMetric(metric.name, metric.unit, metric.value);
  metrics.publishStoredMetrics();
}
