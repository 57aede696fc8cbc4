import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { observedHandler } from './aws/observability';
import { clusterInput, executionArnInput, instanceIdInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { findSurgeNodesOf, retireSurgeNode } from './operations/retire-node';

const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({
    ...clusterInput,
    instanceId: instanceIdInput,
    action: z.enum(['deregister', 'terminate', 'status']),
  }),
  z.strictObject({
    ...clusterInput,
    action: z.literal('find'),
    execution: executionArnInput,
    /** Nodes not to hand back for retirement: a migration still runs on them. */
    exclude: z._default(z.array(instanceIdInput), []),
  }),
]);

/**
 * Deregister, terminate, or report on a surge node of the cluster (nothing else can be retired), or find the surge
 * nodes an execution launched.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'retire-node');
  const model = await clusterModelFor(input.cluster);
  if (input.action === 'find') return findSurgeNodesOf(ec2Client, model, input.execution, input.exclude);
  return retireSurgeNode({ ec2: ec2Client, elbv2: elbv2Client }, model, input);
}

export const handler = observedHandler('retire-node', handle);
