import * as z from 'zod';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { parseInput } from './lib/input';
import { patchRequestSchema, planPatch } from './lib/plans/patch-server';
import { type ClusterSnapshot, snapshotCluster } from './lib/snapshot';

const inputSchema = z.strictObject({
  action: z.enum(['validate', 'plan']),
  workflow: z.literal('patch-server'),
  request: z.unknown(),
  /** The snapshot taken under the lock; a dry run plans from a fresh read-only one. */
  snapshot: z.unknown().optional(),
});

/**
 * Validates a workflow request before anything is touched (unknown cluster, malformed patch id, missing command),
 * and plans the rollout from a snapshot. The plan is what a dry run returns and what the state machine follows.
 */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'plan-workflow');
  const request = parseInput(patchRequestSchema, input.request, input.workflow);
  const model = await clusterModelFor(request.cluster);
  if (input.action === 'validate') {
    const plan = planPatch(model, await snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, model), request);
    return { request, summary: plan.steps.map((step) => step.step) };
  }
  const snapshot =
    (input.snapshot as ClusterSnapshot | undefined) ??
    (await snapshotCluster({ ec2: ec2Client, elbv2: elbv2Client }, model));
  return planPatch(model, snapshot, request);
}
