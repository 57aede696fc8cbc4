import * as z from 'zod/mini';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { clusterInput, parseInput } from './lib/input';
import { snapshotCluster } from './lib/snapshot';

const inputSchema = z.strictObject({ ...clusterInput });

/** Weights, node states, target health and versions: what rollback restores. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'snapshot-cluster');
  return snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, await clusterModelFor(input.cluster));
}
