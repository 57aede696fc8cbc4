import * as z from 'zod';
import { snsClient } from './lib/clients/sns';
import { requireEnv } from './lib/errors';
import { clusterInput, executionArnInput, parseInput } from './lib/input';
import { OUTCOMES, publishEvent } from './lib/notify';
import { assertOwnCluster } from './lib/own-cluster';

const topicArn = requireEnv('TOPIC_ARN');

const inputSchema = z.strictObject({
  ...clusterInput,
  workflow: z.string().min(1).max(64),
  step: z.string().min(1).max(128),
  outcome: z.enum(OUTCOMES),
  execution: executionArnInput.optional(),
  detail: z.unknown().optional(),
  error: z.strictObject({ name: z.string(), cause: z.string().optional() }).optional(),
});

/** Publishes a workflow event to the cluster's topic. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'notify');
  assertOwnCluster(input.cluster);
  return publishEvent(snsClient, topicArn, input);
}
