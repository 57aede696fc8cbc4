import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { ssmIn } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { recordVersion } from './operations/record-version';
import { snapshotCluster } from './operations/snapshot-cluster';

/** Every workflow asks for the snapshot with `{ cluster }` alone: no action means the snapshot. */
function snapshotByDefault(event: unknown): unknown {
  return typeof event === 'object' && event !== null && !('action' in event) ? { ...event, action: 'snapshot' } : event;
}

const inputSchema = z.pipe(
  z.transform(snapshotByDefault),
  z.discriminatedUnion('action', [
    z.strictObject({ ...clusterInput, action: z.literal('snapshot') }),
    z.strictObject({ ...clusterInput, action: z.literal('record-version'), execution: executionArnInput }),
  ]),
);

/**
 * Weights, node states, target health and versions: what rollback restores. Or, after a successful rollout, the
 * version every permanent node reports, recorded where a region failover checks its DR nodes against it.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'snapshot-cluster');
  const model = await clusterModelFor(input.cluster);
  if (input.action === 'record-version') {
    return recordVersion({ ec2: ec2Client, elbv2: elbv2Client, ssm: ssmIn }, model, input);
  }
  return snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, model);
}

export const handler = observedHandler('snapshot-cluster', handle);
