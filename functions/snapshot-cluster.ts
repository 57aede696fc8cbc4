import * as z from 'zod/mini';
import { ec2Client } from './aws/clients/ec2';
import { elbv2Client } from './aws/clients/elbv2';
import { clusterInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { snapshotCluster } from './operations/snapshot-cluster';

const inputSchema = z.strictObject({ ...clusterInput });

/** Weights, node states, target health and versions: what rollback restores. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'snapshot-cluster');
  return snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster));
}
