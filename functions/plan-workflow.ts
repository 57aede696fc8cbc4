import * as z from 'zod/mini';
import { observedHandler } from './aws/observability';
import type { ClusterModel } from './domain/cluster-model';
import { parseInput } from './domain/input';
import { deployRequestSchema, deployWorstCase, planDeploy } from './domain/plans/deploy-service';
import { type ExecutionBudget, type PlanDuration, requireFitsExecution } from './domain/plans/duration';
import { planRollout, type RolloutWorkflow, rolloutSpecFor, rolloutWorstCase } from './domain/plans/rollout';
import { planUpdate, updateRequestSchema, updateWorstCase } from './domain/plans/update-service';
import type { ClusterSnapshot } from './domain/snapshot';
import { MAINTENANCE_WORKFLOWS, type MaintenanceWorkflow } from './domain/workflows';
import { clusterModelFor } from './operations/cluster-model-for';

interface ParsedRequest {
  readonly request: { cluster: string };
  /** Plans from the snapshot, and with a budget refuses a plan whose worst case cannot finish in time. */
  plan(model: ClusterModel, snapshot: ClusterSnapshot, budget?: ExecutionBudget): object;
}

interface Planner {
  /** Validates the request; the error names the bad field. */
  parse(request: unknown): ParsedRequest;
}

function planned<Plan extends object>(
  workflow: MaintenanceWorkflow,
  request: { cluster: string },
  plan: (model: ClusterModel, snapshot: ClusterSnapshot) => Plan,
  worstCase: (model: ClusterModel, plan: Plan, budget: ExecutionBudget) => PlanDuration,
): ParsedRequest {
  return {
    request,
    plan: (model, snapshot, budget) => {
      const made = plan(model, snapshot);
      if (!budget) return made;
      const duration = worstCase(model, made, budget);
      requireFitsExecution(workflow, duration);
      return { ...made, duration };
    },
  };
}

const rollout = (workflow: RolloutWorkflow): Planner => ({
  parse: (request) => {
    const spec = rolloutSpecFor(workflow, request);
    return planned(workflow, spec.request, (model, snapshot) => planRollout(model, snapshot, spec), rolloutWorstCase);
  },
});

// The compiler checks that every maintenance workflow of the registry has its planner.
const PLANNERS = {
  'patch-server': rollout('patch-server'),
  'upgrade-version': rollout('upgrade-version'),
  'deploy-service': {
    parse: (request) => {
      const deploy = parseInput(deployRequestSchema, request, 'deploy-service');
      return planned(
        'deploy-service',
        deploy,
        (model, snapshot) => planDeploy(model, snapshot, deploy),
        deployWorstCase,
      );
    },
  },
  'update-service': {
    parse: (request) => {
      const update = parseInput(updateRequestSchema, request, 'update-service');
      return planned(
        'update-service',
        update,
        (model, snapshot) => planUpdate(model, snapshot, update),
        updateWorstCase,
      );
    },
  },
} satisfies Record<MaintenanceWorkflow, Planner>;

const seconds = z.int().check(z.minimum(1), z.maximum(31_536_000));
const workflowSchema = z.enum(MAINTENANCE_WORKFLOWS as [MaintenanceWorkflow, ...MaintenanceWorkflow[]]);
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('validate'), workflow: workflowSchema, request: z.unknown() }),
  z.strictObject({
    action: z.literal('plan'),
    workflow: workflowSchema,
    request: z.unknown(),
    /** The snapshot-cluster result the plan starts from: read-only before the lock, fresh under it. */
    snapshot: z.unknown(),
    /** The state machine's execution timeout and loop timings; the plan must fit inside them. */
    budget: z.optional(
      z.strictObject({
        executionTimeoutSeconds: seconds,
        pollIntervalSeconds: seconds,
        readyTimeoutSeconds: seconds,
      }),
    ),
  }),
]);

/**
 * Validates a workflow request (malformed patch id, version or artifact, unknown cluster), and plans the workflow
 * from a snapshot: a command the cluster does not define, an unhealthy cluster, or a plan whose worst case runs past
 * the execution timeout (`PlanTooLongError`) fails here. The state machine plans once from a read-only snapshot
 * before it takes the lock, so a refused request touches nothing; that plan is what a dry run returns. It plans
 * again from the snapshot taken under the lock and follows that plan.
 *
 * The snapshot comes in as input, so this function makes no AWS call but the cluster model read.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'plan-workflow');
  const parsed = PLANNERS[input.workflow].parse(input.request);
  const model = await clusterModelFor(parsed.request.cluster);
  if (input.action === 'validate') return { request: parsed.request };
  return parsed.plan(model, input.snapshot as ClusterSnapshot, input.budget);
}

export const handler = observedHandler('plan-workflow', handle);
