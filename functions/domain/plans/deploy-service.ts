import * as z from 'zod/mini';
import type { ClusterModel } from '../cluster-model';
import { InputValidationError } from '../errors';
import { clusterNameSchema } from '../field-issues';
import { operatorValueSchema } from '../operator-values';
import type { ClusterSnapshot } from '../snapshot';
import { type ExecutionBudget, type PlanDuration, WorstCaseTally } from './duration';
import { managerOrder, type PlanNode, type PlanStep } from './plan';
import { requireCommands, weightsOf } from './preconditions';
import { STEPS } from './steps';

/**
 * deploy-service: a new service goes to the manager node only; file sync carries it to the workers, where it is
 * verified, then every node is smoke-tested and the service is exposed. No traffic moves and no node restarts.
 */

/** The pause between two smoke tests of a worker that file sync has not reached yet. */
export const SYNC_CHECK_INTERVAL_SECONDS = 15;

export const serviceNameSchema = operatorValueSchema('service');

/** An ALB rule takes at most five condition values across its conditions. */
const MAX_CONDITION_VALUES = 5;

const pathPattern = z
  .string()
  .check(z.regex(/^\/[\w\-./*?~%+@:=&]{0,127}$/, 'must be a path pattern starting with /, such as /orders/*'));
const hostHeader = z
  .string()
  .check(z.regex(/^[A-Za-z0-9*?][A-Za-z0-9.*?-]{0,127}$/, 'must be a host name pattern such as api.example.com'));

/** How a new service is exposed on the cluster's listener: a rule that forwards its paths (and hosts) to the nodes. */
const exposeRuleShape = {
  pathPatterns: z.array(pathPattern).check(z.minLength(1), z.maxLength(MAX_CONDITION_VALUES)),
  hostHeaders: z._default(z.array(hostHeader).check(z.maxLength(MAX_CONDITION_VALUES - 1)), []),
  /** The rule's priority on the listener (1 is evaluated first). */
  priority: z.int().check(z.minimum(1), z.maximum(50000)),
};
const withinConditionLimit = z.refine<{ pathPatterns: string[]; hostHeaders: string[] }>(
  (rule) => rule.pathPatterns.length + rule.hostHeaders.length <= MAX_CONDITION_VALUES,
  `may have at most ${MAX_CONDITION_VALUES} path patterns and host headers in all`,
);
export const exposeRuleSchema = z.strictObject(exposeRuleShape).check(withinConditionLimit);
export type ExposeRule = z.output<typeof exposeRuleSchema>;

/** The expose-service operation's input: the rule and the service it exposes. */
export const exposeServiceInputSchema = z
  .strictObject({ cluster: clusterNameSchema, service: serviceNameSchema, ...exposeRuleShape })
  .check(withinConditionLimit);

export const deployRequestSchema = z.strictObject({
  cluster: clusterNameSchema,
  /** What the deploy document fetches: an S3 URI or an HTTPS URL. */
  artifact: operatorValueSchema('artifact'),
  /** The service's name, given to the smoke-test and expose documents. */
  service: serviceNameSchema,
  /** Run the cluster's expose command at the end. @default - when the cluster defines an expose command */
  expose: z.optional(z.boolean()),
  /** Expose the service through a listener rule that forwards its paths to the cluster. @default - no rule */
  exposeRule: z.optional(exposeRuleSchema),
  /** How long file sync may take to reach every worker. @default 600 */
  syncTimeoutSeconds: z._default(z.int().check(z.minimum(30), z.maximum(7200)), 600),
  dryRun: z._default(z.boolean(), false),
});
export type DeployRequest = z.output<typeof deployRequestSchema>;

export interface DeployPlan {
  readonly workflow: 'deploy-service';
  readonly cluster: string;
  readonly manager: PlanNode;
  /** Why the artifact goes where it goes first, in plain words. */
  readonly order: string;
  readonly workers: PlanNode[];
  readonly allInstanceIds: string[];
  readonly deploy: { readonly kind: 'deploy'; readonly input: string };
  readonly smokeTest: { readonly kind: 'smokeTest'; readonly input: string };
  readonly expose: { readonly kind: 'expose'; readonly input: string } | null;
  /** The listener rule to create, or null. */
  readonly exposeRule: (ExposeRule & { readonly service: string }) | null;
  readonly syncTimeoutSeconds: number;
  /** How many smoke tests a worker gets before file sync counts as failed. */
  readonly syncMaxChecks: number;
  /** What rollback restores: nothing moves, so these are the weights as found. */
  readonly weights: { readonly initial: Readonly<Record<string, number>> };
  /** The capacity guard's baseline, which the rollback path of every workflow reads. */
  readonly baselineServing: number;
  readonly steps: PlanStep[];
}

export function planDeploy(model: ClusterModel, snapshot: ClusterSnapshot, request: DeployRequest): DeployPlan {
  requireCommands(model, 'deploy-service', [
    'deploy',
    'smokeTest',
    ...(request.expose === true ? ['expose' as const] : []),
  ]);
  const down = snapshot.nodes.filter((node) => node.state !== 'running');
  if (down.length > 0) {
    throw new InputValidationError(`Cluster "${model.name}" has nodes that do not run`, [
      ...down.map((node) => ({ path: `nodes.${node.instanceId}`, message: `is ${node.state}` })),
    ]);
  }
  const toPlanNode = (node: ClusterSnapshot['nodes'][number]): PlanNode => ({
    instanceId: node.instanceId,
    slot: node.slot ?? '',
    role: node.role,
  });
  const manager = snapshot.nodes.find((node) => node.role === 'manager');
  if (!manager) throw new InputValidationError('Cannot plan a deploy', [{ path: 'nodes', message: 'has no manager' }]);
  const workers = snapshot.nodes.filter((node) => node.role === 'worker').map(toPlanNode);
  const expose =
    (request.expose ?? Boolean(model.commands.expose)) ? { kind: 'expose' as const, input: request.service } : null;
  const serving = snapshot.servingHealthyNodes;
  return {
    workflow: 'deploy-service',
    cluster: model.name,
    manager: toPlanNode(manager),
    order: managerOrder({
      workflow: 'deploy-service',
      topology: model.topology,
      managerInstanceId: manager.instanceId,
      managerServes: manager.serving,
    }),
    workers,
    allInstanceIds: snapshot.nodes.map((node) => node.instanceId),
    deploy: { kind: 'deploy', input: request.artifact },
    smokeTest: { kind: 'smokeTest', input: request.service },
    expose,
    exposeRule: request.exposeRule ? { ...request.exposeRule, service: request.service } : null,
    syncTimeoutSeconds: request.syncTimeoutSeconds,
    syncMaxChecks: Math.max(1, Math.ceil(request.syncTimeoutSeconds / SYNC_CHECK_INTERVAL_SECONDS)),
    weights: { initial: weightsOf(snapshot) },
    baselineServing: serving,
    steps: [
      {
        step: STEPS.deployOnManager,
        action: `SSM ${model.commands.deploy?.documentName} ${request.artifact}`,
        instanceId: manager.instanceId,
        predictedServing: serving,
      },
      ...workers.map((worker) => ({
        step: 'Wait until file sync reaches the worker',
        action: `SSM ${model.commands.smokeTest?.documentName} ${request.service}, repeated until it passes`,
        instanceId: worker.instanceId,
        predictedServing: serving,
      })),
      {
        step: STEPS.smokeTestEveryNode,
        action: `SSM ${model.commands.smokeTest?.documentName}`,
        predictedServing: serving,
      },
      ...(expose
        ? [
            {
              step: STEPS.expose,
              action: `SSM ${model.commands.expose?.documentName}`,
              predictedServing: serving,
            },
          ]
        : []),
      ...(request.exposeRule
        ? [
            {
              step: STEPS.exposeRule,
              action: `CreateRule on the listener at priority ${request.exposeRule.priority}: ${[
                ...request.exposeRule.pathPatterns,
                ...request.exposeRule.hostHeaders,
              ].join(' ')}`,
              predictedServing: serving,
            },
          ]
        : []),
    ],
  };
}

/** The worst case of a deploy: each command at its timeout, and file sync at its timeout on every worker. */
export function deployWorstCase(model: ClusterModel, plan: DeployPlan, budget: ExecutionBudget): PlanDuration {
  const tally = new WorstCaseTally(model, budget)
    .command('deploy')
    .fileSync(plan.workers.length, plan.syncTimeoutSeconds)
    .command('smokeTest');
  if (plan.expose) tally.command('expose');
  if (plan.exposeRule) tally.steps(1);
  return tally.total();
}
