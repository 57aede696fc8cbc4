import * as z from 'zod/mini';
import type { ClusterModel } from './domain/cluster-model';
import { parseInput } from './domain/input';
import { deployRequestSchema, planDeploy } from './domain/plans/deploy-service';
import { planRollout, type RolloutWorkflow, rolloutSpecFor } from './domain/plans/rollout';
import { planUpdate, updateRequestSchema } from './domain/plans/update-service';
import type { ClusterSnapshot } from './domain/snapshot';
import { MAINTENANCE_WORKFLOWS, type MaintenanceWorkflow } from './domain/workflows';
import { clusterModelFor } from './operations/cluster-model-for';

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

// The compiler checks that every maintenance workflow of the registry has its planner.
const PLANNERS = {
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
} satisfies Record<MaintenanceWorkflow, Planner>;

const workflowSchema = z.enum(MAINTENANCE_WORKFLOWS as [MaintenanceWorkflow, ...MaintenanceWorkflow[]]);
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('validate'), workflow: workflowSchema, request: z.unknown() }),
  z.strictObject({
    action: z.literal('plan'),
    workflow: workflowSchema,
    request: z.unknown(),
    /** The snapshot-cluster result the plan starts from: read-only before the lock, fresh under it. */
    snapshot: z.unknown(),
  }),
]);

/**
 * Validates a workflow request (malformed patch id, version or artifact, unknown cluster), and plans the workflow
 * from a snapshot: a command the cluster does not define or an unhealthy cluster fails here. The state machine plans
 * once from a read-only snapshot before it takes the lock, so a refused request touches nothing; that plan is what a
 * dry run returns. It plans again from the snapshot taken under the lock and follows that plan.
 *
 * The snapshot comes in as input, so this function makes no AWS call but the cluster model read.
 */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'plan-workflow');
  const parsed = PLANNERS[input.workflow].parse(input.request);
  const model = await clusterModelFor(parsed.request.cluster);
  if (input.action === 'validate') return { request: parsed.request };
  return parsed.plan(model, input.snapshot as ClusterSnapshot);
}
