import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { ssmClient } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { nodeCheckInput, parseInput } from './domain/input';
import { checkNodeReady } from './operations/check-node-ready';
import { clusterModelFor } from './operations/cluster-model-for';

/** One poll of a node coming up; the workflow loops on `ready` until its deadline. */
async function handle(event: unknown) {
  const input = parseInput(nodeCheckInput, event, 'check-node-ready');
  const model = await clusterModelFor(input.cluster);
  return checkNodeReady({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, input);
}

export const handler = observedHandler('check-node-ready', handle);
