import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { observedHandler } from './aws/observability';
import { clusterInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { snapshotCluster } from './operations/snapshot-cluster';

const inputSchema = z.strictObject({ ...clusterInput });

/** Weights, node states, target health and versions: what rollback restores. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'snapshot-cluster');
  return snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster));
}

export const handler = observedHandler('snapshot-cluster', handle);
