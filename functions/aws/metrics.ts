import { METRICS_NAMESPACE } from '../domain/metric-names';

/**
 * Metrics in CloudWatch's embedded metric format: one JSON line on stdout per set of dimensions, which CloudWatch Logs
 * turns into metrics as the function's log group receives it. No SDK call and no permission; the log group's key and
 * retention apply. Written by hand rather than with Powertools' Metrics, whose 16 KB would take the largest bundles
 * past their budget; the format is the documented one, so moving to Powertools later changes no metric.
 *
 * Lines are written only inside Lambda: the sandbox and the tests run the handlers in process, where they would be
 * noise on the operator's terminal.
 */

export type MetricUnit = 'Count' | 'Seconds' | 'None';

export interface MetricValue {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}

export function emitMetrics(
  dimensions: Readonly<Record<string, string>>,
  metrics: readonly MetricValue[],
  options: { now?: number; write?: (line: string) => void } = {},
): void {
  const write =
    options.write ?? (process.env.AWS_LAMBDA_FUNCTION_NAME ? (line: string) => console.log(line) : undefined);
  if (!write || metrics.length === 0) return;
  write(
    JSON.stringify({
      _aws: {
        Timestamp: options.now ?? Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [Object.keys(dimensions)],
            Metrics: metrics.map((metric) => ({ Name: metric.name, Unit: metric.unit })),
          },
        ],
      },
      ...dimensions,
      ...Object.fromEntries(metrics.map((metric) => [metric.name, metric.value])),
    }),
  );
}
