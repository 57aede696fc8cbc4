import * as z from 'zod/mini';
import { ec2Client } from './lib/clients/ec2';
import { elbv2Client } from './lib/clients/elbv2';
import type { ClusterModel } from './lib/cluster-model';
import { clusterModelFor } from './lib/handler';
import { parseInput } from './lib/input';
import { deployRequestSchema, planDeploy } from './lib/plans/deploy-service';
import { planRollout, type RolloutWorkflow, rolloutSpecFor } from './lib/plans/rollout';
import { planUpdate, updateRequestSchema } from './lib/plans/update-service';
import { type ClusterSnapshot, snapshotCluster } from './lib/snapshot';

interface Planner {
  /** Validates the request; the error names the bad field. */
  parse(request: unknown): {
    request: { cluster: string };
    plan(model: ClusterModel, snapshot: ClusterSnapshot): { steps: { step: string }[] };
  };
}

const rollout = (workflow: RolloutWorkflow): Planner => ({
  parse: (request) => {
    const spec = rolloutSpecFor(workflow, request);
    return { request: spec.request, plan: (model, snapshot) => planRollout(model, snapshot, spec) };
  },
});

const PLANNERS: Record<string, Planner> = {
  'patch-server': rollout('patch-server'),
  'upgrade-version': rollout('upgrade-version'),
  'deploy-service': {
    parse: (request) => {
      const deploy = parseInput(deployRequestSchema, request, 'deploy-service');
      return { request: deploy, plan: (model, snapshot) => planDeploy(model, snapshot, deploy) };
    },
  },
  'update-service': {
    parse: (request) => {
      const update = parseInput(updateRequestSchema, request, 'update-service');
      return { request: update, plan: (model, snapshot) => planUpdate(model, snapshot, update) };
    },
  },
};

const inputSchema = z.strictObject({
  action: z.enum(['validate', 'plan']),
  workflow: z.enum(['patch-server', 'upgrade-version', 'deploy-service', 'update-service']),
  request: z.unknown(),
  /** The snapshot taken under the lock; a dry run plans from a fresh read-only one. */
  snapshot: z.optional(z.unknown()),
});

/**
 * Validates a workflow request before anything is touched (unknown cluster, malformed patch id, version or artifact,
 * a command the cluster does not define, an unhealthy cluster), and plans the workflow from a snapshot. The plan is
 * what a dry run returns and what the state machine follows.
 */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'plan-workflow');
  const parsed = PLANNERS[input.workflow]?.parse(input.request);
  if (!parsed) throw new Error(`No planner for ${input.workflow}`);
  const model = await clusterModelFor(parsed.request.cluster);
  const clients = { ec2: ec2Client, elbv2: elbv2Client };
  if (input.action === 'validate') {
    const plan = parsed.plan(model, await snapshotCluster(clients, model));
    return { request: parsed.request, summary: plan.steps.map((step) => step.step) };
  }
  const snapshot = (input.snapshot as ClusterSnapshot | undefined) ?? (await snapshotCluster(clients, model));
  return parsed.plan(model, snapshot);
}
