import * as z from 'zod/mini';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { slotNameSchema } from './lib/cluster-model';
import { assessNodeLoss } from './lib/failover';
import { clusterModelFor } from './lib/handler';
import { clusterInput, parseInput } from './lib/input';

const inputSchema = z.strictObject({
  ...clusterInput,
  slot: slotNameSchema,
});

/** Probes the node an alarm reported lost, and works out the weights that move its traffic to the survivors. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'confirm-node-loss');
  return assessNodeLoss({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster), input);
}
