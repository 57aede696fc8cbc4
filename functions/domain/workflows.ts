/**
 * The registry of workflows: the one contract that the planner, the constructs, the sandbox, the CLI and the bench
 * share. A workflow's name is its state machine's name suffix (`zerodown-<cluster>-<name>`), its execution input's
 * `workflow` and its lock's `workflow`; nothing else spells it.
 */

export interface WorkflowSpec {
  /** The id of its state machine's construct (under the cluster's workflows, or in the DR stack). */
  readonly constructId: string;
  /** Where its state machine lives: the cluster's stack, or the DR stack in the DR region. */
  readonly stack: 'cluster' | 'dr';
  /**
   * Maintenance workflows plan before they touch anything, and failover may pre-empt them. Recovery workflows are
   * never pre-empted. Repair (`recover`) puts a cluster back after another execution died; failover may pre-empt it.
   */
  readonly kind: 'maintenance' | 'recovery' | 'repair';
  /** What it does, for the state machine's comment and an operator's help. */
  readonly summary: string;
}

export const WORKFLOWS = {
  'patch-server': {
    constructId: 'PatchServer',
    stack: 'cluster',
    kind: 'maintenance',
    summary: 'patch every server with a restart, without downtime',
  },
  'upgrade-version': {
    constructId: 'UpgradeVersion',
    stack: 'cluster',
    kind: 'maintenance',
    summary: 'upgrade the product version, migrations first',
  },
  'deploy-service': {
    constructId: 'DeployService',
    stack: 'cluster',
    kind: 'maintenance',
    summary: 'deploy a new service on the manager and let file sync spread it',
  },
  'update-service': {
    constructId: 'UpdateService',
    stack: 'cluster',
    kind: 'maintenance',
    summary: 'hotfix a deployed service on the manager, then let file sync carry it to the workers',
  },
  failover: {
    constructId: 'Failover',
    stack: 'cluster',
    kind: 'recovery',
    summary: 'move traffic off a lost node and restore redundancy with a replacement',
  },
  recover: {
    constructId: 'Recover',
    stack: 'cluster',
    kind: 'repair',
    summary: 'put the cluster back in a safe state after an execution that ended without its rollback',
  },
  'region-failover': {
    constructId: 'RegionFailover',
    stack: 'dr',
    kind: 'recovery',
    summary: 'start the DR site, move DNS to it, drill it, or fail back',
  },
} as const satisfies Record<string, WorkflowSpec>;

export type WorkflowName = keyof typeof WORKFLOWS;
export type MaintenanceWorkflow = {
  [K in WorkflowName]: (typeof WORKFLOWS)[K]['kind'] extends 'maintenance' ? K : never;
}[WorkflowName];
export type ClusterWorkflow = {
  [K in WorkflowName]: (typeof WORKFLOWS)[K]['stack'] extends 'cluster' ? K : never;
}[WorkflowName];

export const WORKFLOW_NAMES = Object.keys(WORKFLOWS) as WorkflowName[];
export const MAINTENANCE_WORKFLOWS = WORKFLOW_NAMES.filter(
  (name): name is MaintenanceWorkflow => WORKFLOWS[name].kind === 'maintenance',
);

/** The workflows whose state machines live in the cluster's own stack (region failover lives in the DR stack). */
export const CLUSTER_WORKFLOWS = WORKFLOW_NAMES.filter(
  (name): name is ClusterWorkflow => WORKFLOWS[name].stack === 'cluster',
);

export function isWorkflowName(name: string): name is WorkflowName {
  return Object.hasOwn(WORKFLOWS, name);
}

/**
 * The name prefix of every state machine of a cluster, `zerodown-<cluster>-`, so the lock may stop only their
 * executions.
 */
export function workflowNamePrefix(clusterName: string): string {
  return `zerodown-${clusterName}-`;
}

/** The state machine of a cluster's workflow: `zerodown-<cluster>-<workflow>`. */
export function stateMachineNameOf(clusterName: string, workflow: WorkflowName): string {
  return `${workflowNamePrefix(clusterName)}${workflow}`;
}

/**
 * No node operation runs longer than this: it bounds every function's timeout. A stopped execution's last Lambda may
 * still be running for this long, so a recovery waits it out before it touches anything.
 */
export const LONGEST_OPERATION_SECONDS = 60;

/**
 * What a workflow's task waits beyond its function's timeout: the invocation's own latency, a cold start included.
 * A task that gave up first could be retried beside an invocation that is still running.
 */
export const TASK_TIMEOUT_HEADROOM_SECONDS = 10;

/** The metadata key on a synthesized state machine that names its workflow, for tools that read templates. */
export const WORKFLOW_METADATA_KEY = 'zerodown:workflow';
