import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { ssmClient } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { launchSurgeNode } from './operations/launch-surge-node';

const inputSchema = z.strictObject({ ...clusterInput, execution: executionArnInput });

/** Launches the execution's surge node (once, however often it is retried). */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'launch-surge-node');
  const model = await clusterModelFor(input.cluster);
  return launchSurgeNode({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, input.execution);
}

export const handler = observedHandler('launch-surge-node', handle);
