import * as z from 'zod/mini';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { ssmClient } from './lib/clients/ssm';
import { slotNameSchema } from './lib/cluster-model';
import { loadClusterState } from './lib/cluster-store';
import { adoptReplacement } from './lib/failover';
import { clusterInput, instanceIdInput, parseInput } from './lib/input';
import { assertOwnCluster } from './lib/own-cluster';

const inputSchema = z.strictObject({
  ...clusterInput,
  slot: slotNameSchema,
  lostInstanceId: instanceIdInput,
  replacementId: instanceIdInput,
});

/** Makes a verified replacement the permanent node of a lost node's slot. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'adopt-replacement');
  assertOwnCluster(input.cluster);
  const state = await loadClusterState(ssmClient, input.cluster);
  return adoptReplacement({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmClient }, state, input);
}
