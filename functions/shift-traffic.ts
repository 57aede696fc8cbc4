import * as z from 'zod/mini';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { clusterInput, instanceIdInput, parseInput } from './lib/input';
import { shiftTraffic } from './lib/shift-traffic';
import { MAX_WEIGHT } from './lib/traffic';

const inputSchema = z.strictObject({
  ...clusterInput,
  weights: z.optional(z.record(z.string(), z.int().check(z.minimum(0), z.maximum(MAX_WEIGHT)))),
  register: z.optional(z.array(instanceIdInput)),
  deregister: z.optional(z.array(instanceIdInput)),
  baselineServing: z.optional(z.int().check(z.minimum(0))),
});

/** Re-weights the cluster's traffic after the capacity guard agrees, and reads the weights back. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'shift-traffic');
  return shiftTraffic(elbv2Client, await clusterModelFor(input.cluster), input);
}
