import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { ssmClient } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { COMMAND_KINDS } from './domain/cluster-model';
import { clusterInput, instanceIdInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { cancelUnfinishedCommands, pollCommand, sendCommand, unfinishedCommands } from './operations/run-command';
import { reconfigureCluster } from './operations/run-command-reconfigure';

const instanceIds = z.array(instanceIdInput).check(z.minLength(1), z.maxLength(50));
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('send'),
    ...clusterInput,
    kind: z.enum(COMMAND_KINDS),
    instanceIds,
    input: z.optional(z.string()),
    idempotencyKey: z.string().check(z.minLength(1), z.maxLength(1024)),
    /** How often the workflow polls; the answer says how many polls the command's timeout allows. */
    pollIntervalSeconds: z._default(z.int().check(z.minimum(1), z.maximum(3600)), 10),
  }),
  z.strictObject({
    action: z.literal('poll'),
    ...clusterInput,
    commandId: z.string().check(z.regex(/^[0-9a-f-]{36}$/, 'must be an SSM command id')),
    instanceIds,
    deadline: z.optional(z.iso.datetime()),
  }),
  /** The cluster's reconfigure command, to every permanent node with their addresses; skipped without one. */
  z.strictObject({
    action: z.literal('reconfigure'),
    ...clusterInput,
    idempotencyKey: z.string().check(z.minLength(1), z.maxLength(1024)),
    pollIntervalSeconds: z._default(z.int().check(z.minimum(1), z.maximum(3600)), 10),
  }),
  z.strictObject({ action: z.literal('cancel-unfinished'), ...clusterInput }),
  z.strictObject({ action: z.literal('unfinished'), ...clusterInput }),
]);

/**
 * Send the cluster's command of a kind to named nodes (or `reconfigure` to all of them), poll it, cancel what a pre-empted or dead workflow left running,
 * or list what has not ended yet.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'run-command');
  const model = await clusterModelFor(input.cluster);
  switch (input.action) {
    case 'send':
      return sendCommand(ssmClient, model, input);
    case 'poll':
      return pollCommand(ssmClient, input);
    case 'reconfigure':
      return reconfigureCluster({ ssm: ssmClient, ec2: ec2Client }, model, input);
    case 'cancel-unfinished':
      return cancelUnfinishedCommands(ssmClient, model, ec2Client);
    case 'unfinished':
      return unfinishedCommands(ssmClient, model, ec2Client);
  }
}

export const handler = observedHandler('run-command', handle);
