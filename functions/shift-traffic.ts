import * as z from 'zod';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { clusterInput, instanceIdInput, parseInput } from './lib/input';
import { shiftTraffic } from './lib/shift-traffic';
import { MAX_WEIGHT } from './lib/traffic';

const inputSchema = z.strictObject({
  ...clusterInput,
  weights: z.record(z.string(), z.number().int().min(0).max(MAX_WEIGHT)).optional(),
  register: z.array(instanceIdInput).optional(),
  deregister: z.array(instanceIdInput).optional(),
  baselineServing: z.number().int().min(0).optional(),
});

/** Re-weights the cluster's traffic after the capacity guard agrees, and reads the weights back. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'shift-traffic');
  return shiftTraffic(elbv2Client, await clusterModelFor(input.cluster), input);
}
