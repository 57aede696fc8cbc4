import {
  type CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { METRIC_NAMES, METRICS_NAMESPACE, POWERTOOLS_SERVICE } from '../functions/domain/metric-names';
import type { Marker, RunEvidence } from './evidence';
import { type ExecutionMetrics, evidenceFromHistory, type MetricPoint } from './from-history';

/**
 * The AWS side of a real execution's report: DescribeExecution, the whole of GetExecutionHistory with its data, and,
 * given a CloudWatch client, the cluster's `ZeroDown` metrics over the execution's time (the slots' weights and the
 * healthy serving nodes, as the dashboard graphs them). A metrics read that fails (no permission, no metrics) is left
 * out with a note on the report; the execution's own calls fail as they do (ExecutionDoesNotExist, AccessDenied...).
 */
export async function gatherExecutionEvidence(
  clients: { sfn: SFNClient; cloudwatch?: CloudWatchClient },
  executionArn: string,
  now: () => Date = () => new Date(),
): Promise<RunEvidence> {
  const execution = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  const events = await wholeHistory(clients.sfn, executionArn);
  const generatedAt = now();
  const withoutMetrics = evidenceFromHistory({ execution, events, generatedAt });
  if (!clients.cloudwatch) return withoutMetrics;

  const cluster = clusterOf(execution.input);
  if (!cluster) return withNote(withoutMetrics, 'metrics not read: the execution input names no cluster');
  const started = execution.startDate ?? generatedAt;
  const stopped = execution.stopDate ?? generatedAt;
  try {
    // The history's own weights are exact; the slots' metric is read only where it has none.
    const knownSlots = Object.keys(withoutMetrics.weights[0]?.weights ?? {});
    const slots = knownSlots.length > 0 ? [] : await slotsWithMetrics(clients.cloudwatch, cluster);
    const metrics = await readMetrics(clients.cloudwatch, cluster, slots, started, stopped);
    return evidenceFromHistory({ execution, events, generatedAt, metrics });
  } catch (error) {
    const named = error as { name?: string; message?: string };
    return withNote(
      withoutMetrics,
      `CloudWatch metrics not read (${named.name ?? 'Error'}: ${(named.message ?? String(error)).split('\n')[0]}): ` +
        'the report shows what the execution history says',
    );
  }
}

/** Every event, oldest first, with the states' inputs and outputs. */
async function wholeHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        includeExecutionData: true,
        maxResults: 1000,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

function clusterOf(input: string | undefined): string | undefined {
  try {
    const cluster = (JSON.parse(input ?? '{}') as { cluster?: unknown }).cluster;
    return typeof cluster === 'string' ? cluster : undefined;
  } catch {
    return undefined;
  }
}

function withNote(evidence: RunEvidence, label: string): RunEvidence {
  const note: Marker = { at: evidence.span.from, kind: 'note', label };
  return { ...evidence, markers: [note, ...evidence.markers] };
}

/** The functions' metrics carry the `service` dimension Powertools adds, as the dashboard asks for them. */
const dimensionsOf = (cluster: string, slot?: string) => [
  { Name: 'service', Value: POWERTOOLS_SERVICE },
  { Name: 'Cluster', Value: cluster },
  ...(slot !== undefined ? [{ Name: 'Slot', Value: slot }] : []),
];

/** The slots whose weight the cluster's functions have reported. */
async function slotsWithMetrics(cloudwatch: CloudWatchClient, cluster: string): Promise<string[]> {
  const slots = new Set<string>();
  let nextToken: string | undefined;
  do {
    const page = await cloudwatch.send(
      new ListMetricsCommand({
        Namespace: METRICS_NAMESPACE,
        MetricName: METRIC_NAMES.slotWeight,
        Dimensions: [{ Name: 'Cluster', Value: cluster }],
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const metric of page.Metrics ?? []) {
      const slot = metric.Dimensions?.find((dimension) => dimension.Name === 'Slot')?.Value;
      if (slot) slots.add(slot);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return [...slots].sort();
}

/** A minute's resolution, as the functions emit them; a minute either side, so the shifts at the edges show. */
const PERIOD_SECONDS = 60;

async function readMetrics(
  cloudwatch: CloudWatchClient,
  cluster: string,
  slots: readonly string[],
  started: Date,
  stopped: Date,
): Promise<ExecutionMetrics> {
  const queries: MetricDataQuery[] = [
    {
      Id: 'healthy',
      MetricStat: {
        Metric: {
          Namespace: METRICS_NAMESPACE,
          MetricName: METRIC_NAMES.healthyServing,
          Dimensions: dimensionsOf(cluster),
        },
        Period: PERIOD_SECONDS,
        Stat: 'Minimum',
      },
    },
    ...slots.map((slot, index) => ({
      Id: `slot${index}`,
      Label: slot,
      MetricStat: {
        Metric: {
          Namespace: METRICS_NAMESPACE,
          MetricName: METRIC_NAMES.slotWeight,
          Dimensions: dimensionsOf(cluster, slot),
        },
        Period: PERIOD_SECONDS,
        Stat: 'Maximum',
      },
    })),
  ];
  const series = new Map<string, MetricPoint[]>();
  let nextToken: string | undefined;
  do {
    const page = await cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: new Date(started.getTime() - PERIOD_SECONDS * 1000),
        EndTime: new Date(stopped.getTime() + PERIOD_SECONDS * 1000),
        ScanBy: 'TimestampAscending',
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const result of page.MetricDataResults ?? []) {
      const points = series.get(result.Id ?? '') ?? [];
      (result.Timestamps ?? []).forEach((timestamp, index) => {
        const value = result.Values?.[index];
        if (value !== undefined) points.push({ at: timestamp, value });
      });
      series.set(result.Id ?? '', points);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  const weights = Object.fromEntries(
    slots.map((slot, index) => [slot, series.get(`slot${index}`) ?? []] as const).filter(([, points]) => points.length),
  );
  const healthy = series.get('healthy') ?? [];
  return {
    ...(Object.keys(weights).length > 0 ? { weights } : {}),
    ...(healthy.length > 0 ? { healthyServing: healthy } : {}),
  };
}
