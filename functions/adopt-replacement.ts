import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { ssmClient } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { loadClusterState } from './aws/ssm';
import { slotNameSchema } from './domain/cluster-model';
import { clusterInput, instanceIdInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';
import { adoptReplacement } from './operations/adopt-replacement';

const inputSchema = z.strictObject({
  ...clusterInput,
  slot: slotNameSchema,
  lostInstanceId: instanceIdInput,
  replacementId: instanceIdInput,
});

/** Makes a verified replacement the permanent node of a lost node's slot. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'adopt-replacement');
  assertOwnCluster(input.cluster);
  const state = await loadClusterState(ssmClient, input.cluster);
  return adoptReplacement({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, state, input);
}

export const handler = observedHandler('adopt-replacement', handle);
