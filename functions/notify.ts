import * as z from 'zod/mini';
import { snsClient } from './aws/clients/sns';
import { emitMetrics } from './aws/metrics';
import { observedHandler } from './aws/observability';
import { OUTCOMES, publishEvent } from './aws/sns';
import { requireEnv } from './domain/errors';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';
import { failoverMetrics } from './operations/report-metrics';

const topicArn = requireEnv('TOPIC_ARN');

const inputSchema = z.strictObject({
  ...clusterInput,
  workflow: z.string().check(z.minLength(1), z.maxLength(64)),
  step: z.string().check(z.minLength(1), z.maxLength(128)),
  outcome: z.enum(OUTCOMES),
  execution: z.optional(executionArnInput),
  detail: z.optional(z.unknown()),
  error: z.optional(z.strictObject({ name: z.string(), cause: z.optional(z.string()) })),
});

/** Publishes a workflow event to the cluster's topic. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'notify');
  assertOwnCluster(input.cluster);
  const published = await publishEvent(snsClient, topicArn, input);
  for (const set of failoverMetrics(input.cluster, input.workflow, input.detail))
    emitMetrics(set.dimensions, set.metrics);
  return published;
}

export const handler = observedHandler('notify', handle);
