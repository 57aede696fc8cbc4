import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { observedHandler } from './aws/observability';
import { slotNameSchema } from './domain/cluster-model';
import { clusterInput, instanceIdInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { assessNodeLoss } from './operations/confirm-node-loss';

const inputSchema = z.strictObject({
  ...clusterInput,
  slot: slotNameSchema,
  /**
   * The loss was confirmed already, before the lock: work out the move again from the weights, survivors and surge
   * nodes as they are now, under the lock, without probing the lost node again. @default false
   */
  confirmed: z._default(z.boolean(), false),
  /** Nodes the pre-empted workflow took out of service and had not verified since, from its recovery record. */
  outOfService: z._default(z.array(instanceIdInput), []),
  /** The version the pre-empted workflow's migrations need every serving node to run, from its recovery record. */
  migratedTo: z._default(z.nullable(z.string().check(z.minLength(1), z.maxLength(128))), null),
  /** Nodes a migration of the pre-empted workflow still runs on (the cancellation left it running). */
  busy: z._default(z.array(instanceIdInput), []),
});

/**
 * Probes the node an alarm or a peer reported lost, and works out the weights that move its traffic to the survivors.
 * Under the lock it also answers the model it read: the move that follows, under the same lock, takes it as it is.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'confirm-node-loss');
  const model = await clusterModelFor(input.cluster);
  const assessment = await assessNodeLoss({ ec2: ec2Client, elbv2: elbv2Client }, model, input);
  return input.confirmed ? { ...assessment, model } : assessment;
}

export const handler = observedHandler('confirm-node-loss', handle);
