import * as z from 'zod/mini';
import { elbv2Client } from './aws/clients/elbv2';
import { emitMetrics } from './aws/metrics';
import { observedHandler } from './aws/observability';
import { clusterInput, instanceIdInput, parseInput } from './domain/input';
import { MAX_WEIGHT } from './domain/weights';
import { passedOrLoadedModel } from './operations/cluster-model-for';
import { shiftMetrics } from './operations/report-metrics';
import { shiftTraffic } from './operations/shift-traffic';

const inputSchema = z.strictObject({
  ...clusterInput,
  weights: z.optional(z.record(z.string(), z.int().check(z.minimum(0), z.maximum(MAX_WEIGHT)))),
  register: z.optional(z.array(instanceIdInput)),
  deregister: z.optional(z.array(instanceIdInput)),
  baselineServing: z.optional(z.int().check(z.minimum(0))),
  /**
   * The model as the step before read it under the same lock (failover's work-out), so the move waits for no read of
   * its own. @default - read from Parameter Store
   */
  model: z.optional(z.unknown()),
});

/** Re-weights the cluster's traffic after the capacity guard agrees, and reads the weights back. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'shift-traffic');
  const model = await passedOrLoadedModel(input.cluster, input.model);
  const result = await shiftTraffic(elbv2Client, model, input);
  for (const set of shiftMetrics(model, result)) emitMetrics(set.dimensions, set.metrics);
  return result;
}

export const handler = observedHandler('shift-traffic', handle);
