import * as z from 'zod';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import { clusterModelFor } from './lib/handler';
import { parseInput } from './lib/input';
import { planRollout, ROLLOUT_WORKFLOWS, rolloutSpecFor } from './lib/plans/rollout';
import { type ClusterSnapshot, snapshotCluster } from './lib/snapshot';

const inputSchema = z.strictObject({
  action: z.enum(['validate', 'plan']),
  workflow: z.enum(ROLLOUT_WORKFLOWS),
  request: z.unknown(),
  /** The snapshot taken under the lock; a dry run plans from a fresh read-only one. */
  snapshot: z.unknown().optional(),
});

/**
 * Validates a workflow request before anything is touched (unknown cluster, malformed patch id or version, missing
 * command, unhealthy cluster), and plans the rollout from a snapshot. The plan is what a dry run returns and what
 * the state machine follows.
 */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'plan-workflow');
  const spec = rolloutSpecFor(input.workflow, input.request);
  const model = await clusterModelFor(spec.request.cluster);
  const clients = { ec2: ec2Client, elbv2: elbv2Client };
  if (input.action === 'validate') {
    const plan = planRollout(model, await snapshotCluster(clients, model), spec);
    return { request: spec.request, summary: plan.steps.map((step) => step.step) };
  }
  const snapshot = (input.snapshot as ClusterSnapshot | undefined) ?? (await snapshotCluster(clients, model));
  return planRollout(model, snapshot, spec);
}
