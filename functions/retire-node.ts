import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { clusterInput, instanceIdInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { retireSurgeNode } from './operations/retire-node';

const inputSchema = z.strictObject({
  ...clusterInput,
  instanceId: instanceIdInput,
  action: z.enum(['deregister', 'terminate', 'status']),
});

/** Deregister, terminate, or report on a surge node of the cluster; nothing else can be retired. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'retire-node');
  return retireSurgeNode({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster), input);
}
