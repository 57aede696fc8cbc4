import * as z from 'zod';
import { requiredServing } from '../capacity';
import { type ClusterModel, clusterNameSchema } from '../cluster-model';
import { InputValidationError } from '../errors';
import type { ClusterSnapshot, NodeSnapshot } from '../snapshot';
import { planShift, type ShiftPlan, shiftOptionsSchema } from './shift-stages';

/**
 * The patch-server plan: which node is patched first, the weights of every shift, and the healthy serving capacity
 * predicted after each step. The state machine reads its node ids and weights from here, and a dry run returns it
 * as the answer, so what an operator reviews is what runs.
 */

export const patchRequestSchema = z.strictObject({
  cluster: clusterNameSchema,
  /** Passed to the cluster's patch document as its input parameter. */
  patchId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/, 'must be a patch id of letters, digits and ._:+-'),
  /** The version nodes must report after the patch; checks with `expectVersion` compare against it. */
  version: z
    .string()
    .regex(/^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/, 'must be a version such as 4.2.0 or 4.2.0-p3')
    .optional(),
  /** Active/passive: move traffic back to the original active node at the end. @default true */
  shiftBack: z.boolean().default(true),
  /** Leave the surge node running at the end, for debugging. @default false */
  keepSurge: z.boolean().default(false),
  /** Return the plan and touch nothing. @default false */
  dryRun: z.boolean().default(false),
  /** Shift traffic in stages, with a bake and an alarm check after each. @default - one step */
  shift: shiftOptionsSchema,
});
export type PatchRequest = z.output<typeof patchRequestSchema>;

export interface PlanNode {
  readonly instanceId: string;
  readonly slot: string;
  readonly role: 'manager' | 'worker';
}

export interface PlanStep {
  readonly step: string;
  /** What the step does to AWS, in a few words. */
  readonly action: string;
  readonly instanceId?: string;
  readonly weights?: Readonly<Record<string, number>>;
  /** Healthy nodes serving after the step (the surge node included). */
  readonly predictedServing: number;
}

/** One node of an active/active cluster, taken out, patched and returned in turn. */
export interface RotationItem {
  readonly node: PlanNode;
  readonly drain: ShiftPlan;
  readonly restore: ShiftPlan;
}

export interface PatchPlan {
  readonly workflow: 'patch-server';
  readonly cluster: string;
  readonly topology: ClusterModel['topology'];
  readonly patchId: string;
  /** Null when the request names no version (the state machine always finds the field). */
  readonly expectedVersion: string | null;
  readonly baselineServing: number;
  readonly requiredServing: number;
  readonly surgeSlot: string;
  /** Active/passive: the passive node, patched first; then the active one. */
  readonly first?: PlanNode;
  readonly second?: PlanNode;
  readonly weights: {
    /** What rollback restores. */
    readonly initial: Readonly<Record<string, number>>;
    readonly final: Readonly<Record<string, number>>;
  };
  /** Every traffic move, in stages. */
  readonly shifts: {
    readonly toFirst?: ShiftPlan;
    readonly back?: ShiftPlan;
    /** Active/active: the surge node takes a share while nodes rotate, and gives it back at the end. */
    readonly surgeIn?: ShiftPlan;
    readonly surgeOut?: ShiftPlan;
  };
  /** Active/active: the nodes in the order they are patched. */
  readonly rotation: RotationItem[];
  readonly keepSurge: boolean;
  readonly steps: PlanStep[];
}

function planNode(node: NodeSnapshot): PlanNode {
  if (!node.slot) {
    throw new InputValidationError('Cannot plan a patch', [
      { path: 'traffic.strategy', message: 'patch-server needs the weighted-target-groups strategy' },
    ]);
  }
  return { instanceId: node.instanceId, slot: node.slot, role: node.role };
}

function weightsOf(snapshot: ClusterSnapshot): Record<string, number> {
  return Object.fromEntries(snapshot.weights.map((entry) => [entry.slot, entry.weight]));
}

/** Plans a patch of every permanent node, from the snapshot of the cluster as it is now. */
export function planPatch(model: ClusterModel, snapshot: ClusterSnapshot, request: PatchRequest): PatchPlan {
  if (model.traffic.strategy !== 'weighted-target-groups') {
    throw new InputValidationError('Cannot plan a patch', [
      { path: 'traffic.strategy', message: 'patch-server needs the weighted-target-groups strategy' },
    ]);
  }
  if (!model.commands.patch) {
    throw new InputValidationError(`Cluster "${model.name}" cannot be patched`, [
      { path: 'commands.patch', message: 'is not defined in the cluster model' },
    ]);
  }
  const unhealthy = snapshot.nodes.filter((node) => node.state !== 'running' || node.targetHealth !== 'healthy');
  if (unhealthy.length > 0) {
    throw new InputValidationError(`Cluster "${model.name}" is not healthy enough to patch`, [
      ...unhealthy.map((node) => ({
        path: `nodes.${node.instanceId}`,
        message: `is ${node.state} with target ${node.targetHealth}; restore redundancy first`,
      })),
    ]);
  }
  const surgeSlot = model.traffic.surgeSlot;
  const initial = weightsOf(snapshot);
  const drain = model.capacity.drainSeconds;
  const baseline = snapshot.servingHealthyNodes;
  const required = requiredServing(baseline, model.capacity.minHealthyPercent);
  const common = {
    workflow: 'patch-server' as const,
    cluster: model.name,
    topology: model.topology,
    patchId: request.patchId,
    expectedVersion: request.version ?? null,
    baselineServing: baseline,
    requiredServing: required,
    surgeSlot,
    keepSurge: request.keepSurge,
  };
  const surgeSteps = (serving: number): PlanStep[] => [
    {
      step: 'Launch surge node',
      action: `RunInstances from ${model.surge.launchTemplateId}`,
      predictedServing: serving,
    },
    {
      step: 'Wait until the surge node is ready',
      action: 'poll instance, SSM agent, target and HTTP checks',
      predictedServing: serving,
    },
  ];
  const patchSteps = (label: string, node: PlanNode, serving: number): PlanStep[] => [
    {
      step: `Patch ${label}`,
      action: `SSM ${model.commands.patch?.documentName} PatchId=${request.patchId}`,
      instanceId: node.instanceId,
      predictedServing: serving,
    },
    {
      step: `Wait until ${label} is ready`,
      action: 'poll instance, SSM agent, target and HTTP checks',
      instanceId: node.instanceId,
      predictedServing: serving,
    },
    {
      step: `Verify ${label}`,
      action: 'HTTP checks and target health',
      instanceId: node.instanceId,
      predictedServing: serving,
    },
  ];
  const retireSteps = (serving: number): PlanStep[] =>
    request.keepSurge
      ? [{ step: 'Keep the surge node', action: 'nothing (keepSurge)', predictedServing: serving }]
      : [{ step: 'Retire the surge node', action: 'deregister, drain, terminate', predictedServing: serving }];

  if (model.topology === 'active-passive') {
    const active = snapshot.nodes.find((node) => node.serving);
    const passive = snapshot.nodes.find((node) => !node.serving);
    if (!active || !passive) {
      throw new InputValidationError(`Cluster "${model.name}" has no clear active and passive node`, [
        {
          path: 'nodes',
          message: `serving: ${snapshot.nodes.filter((n) => n.serving).length} of ${snapshot.nodes.length}`,
        },
      ]);
    }
    const first = planNode(passive);
    const second = planNode(active);
    const toFirst = { ...initial, [first.slot]: initial[second.slot] ?? 100, [second.slot]: 0 };
    const final = request.shiftBack ? initial : toFirst;
    return {
      ...common,
      first,
      second,
      weights: { initial, final },
      shifts: {
        toFirst: planShift(initial, toFirst, request.shift, drain),
        back: planShift(toFirst, initial, request.shift, drain),
      },
      rotation: [],
      steps: [
        ...surgeSteps(1),
        ...patchSteps('the passive node', first, 1),
        { step: 'Shift traffic to the patched node', action: 'ModifyListener', weights: toFirst, predictedServing: 1 },
        {
          step: 'Verify the patched node under traffic',
          action: 'HTTP checks and target health',
          instanceId: first.instanceId,
          predictedServing: 1,
        },
        ...patchSteps('the other node', second, 1),
        ...(request.shiftBack
          ? [{ step: 'Shift traffic back', action: 'ModifyListener', weights: final, predictedServing: 1 }]
          : []),
        ...retireSteps(1),
      ],
    };
  }

  const serving = snapshot.nodes.filter((node) => node.serving).map(planNode);
  const share = Math.max(
    1,
    Math.round(Object.values(initial).reduce((sum, weight) => sum + weight, 0) / Math.max(1, serving.length)),
  );
  const surgeIn = { ...initial, [surgeSlot]: share };
  const rotation = serving.map((node): RotationItem => {
    const out = { ...surgeIn, [node.slot]: 0 };
    return {
      node,
      drain: planShift(surgeIn, out, request.shift, drain),
      restore: planShift(out, surgeIn, request.shift, drain),
    };
  });
  const surgeOut = { ...initial, [surgeSlot]: 0 };
  return {
    ...common,
    weights: { initial, final: surgeOut },
    shifts: {
      surgeIn: planShift(initial, surgeIn, request.shift, drain),
      surgeOut: planShift(surgeIn, surgeOut, request.shift, drain),
    },
    rotation,
    steps: [
      ...surgeSteps(baseline),
      { step: 'Verify the surge node', action: 'HTTP checks and target health', predictedServing: baseline },
      {
        step: 'Put the surge node into service',
        action: 'ModifyListener',
        weights: surgeIn,
        predictedServing: baseline + 1,
      },
      ...rotation.flatMap((item) => [
        {
          step: `Take ${item.node.instanceId} out of service`,
          action: 'ModifyListener, then drain',
          weights: item.drain.stages.at(-1)?.weights,
          predictedServing: baseline,
        },
        ...patchSteps(`node ${item.node.instanceId}`, item.node, baseline),
        {
          step: `Return ${item.node.instanceId} to service`,
          action: 'ModifyListener',
          weights: item.restore.stages.at(-1)?.weights,
          predictedServing: baseline + 1,
        },
        {
          step: `Verify ${item.node.instanceId} under traffic`,
          action: 'HTTP checks and target health',
          instanceId: item.node.instanceId,
          predictedServing: baseline + 1,
        },
      ]),
      {
        step: 'Take the surge node out of service',
        action: 'ModifyListener, then drain',
        weights: surgeOut,
        predictedServing: baseline,
      },
      ...retireSteps(baseline),
    ],
  };
}
