import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { ssmClient } from './lib/clients/ssm';
import { clusterModelFor } from './lib/handler';
import { nodeCheckInput, parseInput } from './lib/input';
import { checkNodeReady } from './lib/node-health';

/** One poll of a node coming up; the workflow loops on `ready` until its deadline. */
export async function handler(event: unknown) {
  const input = parseInput(nodeCheckInput, event, 'check-node-ready');
  const model = await clusterModelFor(input.cluster);
  return checkNodeReady({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, model, input);
}
