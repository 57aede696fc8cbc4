import * as z from 'zod/mini';
import { requiredServing } from '../capacity';
import type { ClusterModel, CommandKind } from '../cluster-model';
import { InputValidationError } from '../errors';
import { clusterNameSchema } from '../field-issues';
import { type ClusterSnapshot, currentVersionOf, launchedNodeVersion } from '../snapshot';
import { deployRequestSchema, SYNC_CHECK_INTERVAL_SECONDS } from './deploy-service';
import { type ExecutionBudget, type PlanDuration, WorstCaseTally } from './duration';
import { managerOrder, type PlanNode, type PlanStep } from './plan';
import { planNode, requireCommands, requireHealthyNodes, requireWeightedTraffic, weightsOf } from './preconditions';
import { planShift, type ShiftPlan, shiftOptionsSchema, type Weights } from './shift-stages';
import { STEPS } from './steps';

/**
 * update-service: a hotfix of a deployed service. It is deployed on the manager node, because file sync makes the
 * manager's deployment directory the truth: a hotfix deployed on a worker would be undone by the next sync. Sync is
 * paused while the manager changes, so the untested artifact reaches no node that serves; the workers get it by sync
 * only once the manager has passed its checks under traffic and carries that traffic itself.
 */

export const updateRequestSchema = z.strictObject({
  cluster: clusterNameSchema,
  /** The hotfixed artifact the deploy document fetches: an S3 URI or an HTTPS URL. */
  artifact: deployRequestSchema.shape.artifact,
  /** The service's name, given to the smoke-test and sync documents. */
  service: deployRequestSchema.shape.service,
  /** How long file sync may take to reach every worker once resumed. @default 600 */
  syncTimeoutSeconds: deployRequestSchema.shape.syncTimeoutSeconds,
  /** Leave the surge node running at the end, for debugging. @default false */
  keepSurge: z._default(z.boolean(), false),
  /** Return the plan and touch nothing. @default false */
  dryRun: z._default(z.boolean(), false),
  /** Shift traffic in stages, with a bake and an alarm check after each. @default - one step */
  shift: shiftOptionsSchema,
});
export type UpdateRequest = z.output<typeof updateRequestSchema>;

type Command = { readonly kind: CommandKind; readonly input: string };

export interface UpdatePlan {
  readonly workflow: 'update-service';
  readonly cluster: string;
  readonly topology: ClusterModel['topology'];
  /** The node the hotfix is deployed on: the manager. */
  readonly changed: PlanNode;
  /** Why the hotfix goes where it goes first, in plain words. */
  readonly order: string;
  /** The nodes that receive the hotfix by file sync. */
  readonly workers: PlanNode[];
  readonly syncPause: Command;
  readonly deploy: Command;
  readonly smokeTest: Command;
  readonly syncResume: Command;
  /** No version changes; the state machine's shared verify steps read the field. */
  readonly expectedVersion: null;
  /**
   * The version every permanent node reports: the surge node, launched from the cluster's image, must report it too, or
   * it is a stale image's node. Null when they report none or disagree, and then nothing is compared.
   */
  readonly currentVersion: string | null;
  /** What `Verify the surge node` expects: `currentVersion` where the surge node boots from `surge.imageParameter`. */
  readonly surgeVersion: string | null;
  readonly baselineServing: number;
  readonly requiredServing: number;
  readonly surgeSlot: string;
  readonly weights: {
    /** What rollback restores; the state machine replaces it as the update moves on (see the state machine). */
    readonly initial: Weights;
    readonly snapshot: Weights;
    /** The manager out of service, its share on the other nodes: restored on a failure once the manager changed. */
    readonly changedOut: Weights;
    /** The traffic on the updated manager and off the workers while they sync. */
    readonly changedServing: Weights;
    readonly final: Weights;
  };
  readonly shifts: {
    /** Null when the manager serves no traffic to begin with. */
    readonly changedOut: ShiftPlan | null;
    readonly toChanged: ShiftPlan;
    /** Null when the traffic already sits as it was found. */
    readonly rebalance: ShiftPlan | null;
  };
  readonly syncTimeoutSeconds: number;
  /** How many smoke tests a worker gets before file sync counts as failed. */
  readonly syncMaxChecks: number;
  readonly keepSurge: boolean;
  readonly steps: PlanStep[];
}

const UPDATE_SERVICE = 'update-service';
const REQUIRED_COMMANDS = ['syncPause', 'deploy', 'smokeTest', 'syncResume'] as const;

export function planUpdate(model: ClusterModel, snapshot: ClusterSnapshot, request: UpdateRequest): UpdatePlan {
  requireWeightedTraffic(model, UPDATE_SERVICE);
  requireCommands(model, UPDATE_SERVICE, REQUIRED_COMMANDS);
  requireHealthyNodes(model, snapshot, 'update');
  const managerNode = snapshot.nodes.find((node) => node.role === 'manager');
  if (!managerNode)
    throw new InputValidationError('Cannot plan an update', [{ path: 'nodes', message: 'has no manager' }]);
  const manager = planNode(managerNode, UPDATE_SERVICE);
  const workers = snapshot.nodes.filter((node) => node.role === 'worker').map((node) => planNode(node, UPDATE_SERVICE));
  const firstWorker = workers[0];
  if (!firstWorker) {
    throw new InputValidationError('Cannot plan an update', [{ path: 'nodes', message: 'has no worker' }]);
  }

  const surge = model.traffic.surgeSlot;
  const initial = weightsOf(snapshot);
  const total = Object.values(initial).reduce((sum, weight) => sum + weight, 0) || 100;
  const managerWeight = initial[manager.slot] ?? 0;
  const zero = (nodes: readonly PlanNode[]) => Object.fromEntries(nodes.map((node) => [node.slot, 0]));

  let changedOut: Weights;
  let changedServing: Weights;
  if (model.topology === 'active-passive') {
    // One node serves at a time: the worker stands in for the manager, and then the updated manager for the worker.
    changedOut = { ...initial, ...zero(workers), [firstWorker.slot]: total, [manager.slot]: 0, [surge]: 0 };
    changedServing = { ...initial, ...zero(workers), [manager.slot]: total, [surge]: 0 };
  } else {
    // The surge node takes the share of each node that stops serving, so as many nodes serve as before.
    const share = managerWeight > 0 ? managerWeight : Math.round(total / Math.max(1, workers.length + 1));
    changedOut = { ...initial, [manager.slot]: 0, [surge]: share };
    changedServing = { ...initial, ...zero(workers), [manager.slot]: share, [surge]: share };
  }
  const managerServes = managerWeight > 0;
  const beforeChange = managerServes ? changedOut : initial;
  const drain = model.capacity.drainSeconds;
  const baseline = snapshot.servingHealthyNodes;
  const required = requiredServing(baseline, model.capacity.minHealthyPercent);
  const serving = (weights: Weights) => Object.values(weights).filter((weight) => weight > 0).length;

  const currentVersion = currentVersionOf(snapshot);
  const surgeVersion = launchedNodeVersion(currentVersion, model.surge.imageParameter);
  const document = (kind: CommandKind) => `SSM ${model.commands[kind]?.documentName}`;
  const steps: PlanStep[] = [
    {
      step: 'Launch surge node',
      action: `RunInstances from ${model.surge.launchTemplateId}`,
      predictedServing: baseline,
    },
    {
      step: 'Wait until the surge node is ready',
      action: 'poll instance, SSM agent, target and HTTP checks',
      predictedServing: baseline,
    },
    {
      step: STEPS.verifySurge,
      action: `HTTP checks and target health${surgeVersion ? `, and version ${surgeVersion} (what every node reports)` : ''}`,
      predictedServing: baseline,
    },
    {
      step: STEPS.pauseSync,
      action: document('syncPause'),
      instanceId: manager.instanceId,
      predictedServing: baseline,
    },
    ...(managerServes
      ? [
          {
            step: STEPS.managerOut,
            action: 'ModifyListener, then drain',
            weights: changedOut,
            predictedServing: serving(changedOut),
          },
        ]
      : []),
    {
      step: STEPS.deployHotfix,
      action: `${document('deploy')} ${request.artifact}`,
      instanceId: manager.instanceId,
      predictedServing: serving(beforeChange),
    },
    {
      step: STEPS.smokeTestManager,
      action: `${document('smokeTest')} ${request.service}`,
      instanceId: manager.instanceId,
      predictedServing: serving(beforeChange),
    },
    {
      step: STEPS.verifyUpdatedManager,
      action: 'HTTP checks and target health',
      instanceId: manager.instanceId,
      predictedServing: serving(beforeChange),
    },
    {
      step: STEPS.shiftToUpdated,
      action: 'ModifyListener, then drain',
      weights: changedServing,
      predictedServing: serving(changedServing),
    },
    {
      step: STEPS.resumeSync,
      action: document('syncResume'),
      instanceId: manager.instanceId,
      predictedServing: serving(changedServing),
    },
    ...workers.map((worker) => ({
      step: 'Wait until file sync reaches the worker',
      action: `${document('smokeTest')} ${request.service}, repeated until it passes; then HTTP checks`,
      instanceId: worker.instanceId,
      predictedServing: serving(changedServing),
    })),
    ...(sameWeights(changedServing, initial)
      ? []
      : [{ step: STEPS.rebalance, action: 'ModifyListener', weights: initial, predictedServing: baseline }]),
    request.keepSurge
      ? { step: 'Keep the surge node', action: 'nothing (keepSurge)', predictedServing: baseline }
      : { step: 'Retire the surge node', action: 'deregister, drain, terminate', predictedServing: baseline },
  ];
  const short = steps.find((step) => step.predictedServing < required);
  if (short) {
    throw new InputValidationError(`Cluster "${model.name}" cannot keep its capacity through update-service`, [
      {
        path: 'capacity.minHealthyPercent',
        message: `"${short.step}" would leave ${short.predictedServing} of ${baseline} nodes serving, below the ${required} required`,
      },
    ]);
  }

  const command = (kind: CommandKind, input: string) => ({ kind, input });
  return {
    workflow: 'update-service',
    cluster: model.name,
    topology: model.topology,
    changed: manager,
    order: managerOrder({
      workflow: UPDATE_SERVICE,
      topology: model.topology,
      managerInstanceId: manager.instanceId,
      managerServes,
    }),
    workers,
    syncPause: command('syncPause', request.service),
    deploy: command('deploy', request.artifact),
    smokeTest: command('smokeTest', request.service),
    syncResume: command('syncResume', request.service),
    expectedVersion: null,
    currentVersion,
    surgeVersion,
    baselineServing: baseline,
    requiredServing: required,
    surgeSlot: surge,
    weights: { initial, snapshot: initial, changedOut: beforeChange, changedServing, final: initial },
    shifts: {
      changedOut: managerServes ? planShift(initial, changedOut, request.shift, drain) : null,
      toChanged: planShift(beforeChange, changedServing, request.shift, drain),
      rebalance: sameWeights(changedServing, initial) ? null : planShift(changedServing, initial, request.shift, drain),
    },
    syncTimeoutSeconds: request.syncTimeoutSeconds,
    syncMaxChecks: Math.max(1, Math.ceil(request.syncTimeoutSeconds / SYNC_CHECK_INTERVAL_SECONDS)),
    keepSurge: request.keepSurge,
    steps,
  };
}

function sameWeights(a: Weights, b: Weights): boolean {
  const slots = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...slots].every((slot) => (a[slot] ?? 0) === (b[slot] ?? 0));
}

/** The worst case of a hotfix: each command at its timeout, every shift's bakes and drain, file sync on each worker. */
export function updateWorstCase(model: ClusterModel, plan: UpdatePlan, budget: ExecutionBudget): PlanDuration {
  return (
    new WorstCaseTally(model, budget)
      .surge()
      .command('syncPause')
      .shift(plan.shifts.changedOut)
      .command('deploy')
      .command('smokeTest')
      // Verify the updated manager; each worker is checked once file sync reached it.
      .steps(1 + plan.workers.length)
      .shift(plan.shifts.toChanged)
      .command('syncResume')
      .fileSync(plan.workers.length, plan.syncTimeoutSeconds)
      .shift(plan.shifts.rebalance)
      .retire(plan.keepSurge)
      .total()
  );
}
