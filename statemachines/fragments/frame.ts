import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { DEFAULT_TIMING, WorkflowBuilder, type WorkflowOperations, type WorkflowTiming } from '../workflow-builder';
import { cluster, rollbackPath } from './node-steps';
import { operationStep } from './operation-step';
import { planPath } from './plan-path';
import { recoverySteps } from './recovery';

/**
 * Where a workflow keeps the nodes it took out of service and has not verified since (see `markOutOfService`): the
 * record a failover reads to know which nodes are no survivors, and which lost node is the workflow's own to check.
 */
export const OUT_OF_SERVICE_PATH = '$.progress.outOfService';

/**
 * Notes that the node at `instanceIdPath` is out of service from here on; the next fence writes it into the lock's
 * record, before the step that takes it out.
 */
export function markOutOfService(scope: Construct, label: string, instanceIdPath: string): sfn.Pass {
  return new sfn.Pass(scope, `Note: ${label} is out of service`, {
    parameters: { 'outOfService.$': `States.Array(${instanceIdPath})` },
    resultPath: PROGRESS_PATH,
  });
}

/** Notes that the node taken out of service passed its checks again; the next fence writes it. */
export function markVerified(scope: Construct, label: string): sfn.Pass {
  return new sfn.Pass(scope, `Note: ${label} is verified`, {
    result: sfn.Result.fromObject({ outOfService: [] }),
    resultPath: PROGRESS_PATH,
  });
}
const PROGRESS_PATH = '$.progress';

export interface FrameOptions {
  readonly workflow: string;
  /** The noun of the plan step: "Plan the patch". */
  readonly planNoun: string;
  /** The name of the final Succeed state: "Patch succeeded". */
  readonly successLabel: string;
  readonly leaseSeconds: number;
  /** The state machine's execution timeout: a plan whose worst case runs past it is refused before the lock. */
  readonly executionTimeoutSeconds: number;
  readonly timing?: WorkflowTiming;
  /**
   * The workflow's own steps, between the plan and the release of the lock. `finish` releases the lock, reports
   * and succeeds: every path of the body ends there.
   */
  readonly body: (b: WorkflowBuilder, finish: sfn.IChainable) => sfn.IChainable;
  /**
   * Workflow-specific undo steps that run before the shared rollback (`rollback` is its first state). Each must carry
   * on into `rollback` when it fails itself. @default - the shared rollback only
   */
  readonly beforeRollback?: (b: WorkflowBuilder, rollback: sfn.IChainable) => sfn.IChainable;
  /**
   * What the workflow's recovery needs beyond the last safe weights, as Parameters read from the state; every path
   * must exist from the first step of the body. @default - the weights only
   */
  readonly record?: Record<string, unknown>;
}

/**
 * The frame every workflow shares: validate the request and plan it from a read-only snapshot (a bad request or an
 * unfit cluster fails with its named error before anything is touched), answer a dry run with that plan, take the
 * lock, snapshot, plan again, run the body, release, report. Failures
 * after the lock go to the one rollback path.
 */
export function workflowFrame(scope: Construct, ops: WorkflowOperations, options: FrameOptions): sfn.IChainable {
  const { workflow } = options;
  const timing = options.timing ?? DEFAULT_TIMING;
  // Every change renews the lease and writes the record a recovery restores from: the weights a rollback from this
  // point would restore (workflows move `plan.weights.initial` forward as they pass safe points).
  const raising = WorkflowBuilder.underClusterLock(scope, ops, workflow, {
    timing,
    leaseSeconds: options.leaseSeconds,
    record: {
      'weights.$': planPath('weights', 'initial'),
      'baselineServing.$': planPath('baselineServing'),
      'outOfService.$': OUT_OF_SERVICE_PATH,
      'migratedTo.$': '$.schema.migratedTo',
      ...options.record,
    },
  });
  const budget = {
    executionTimeoutSeconds: options.executionTimeoutSeconds,
    pollIntervalSeconds: timing.pollIntervalSeconds,
    readyTimeoutSeconds: timing.readyTimeoutSeconds,
  };

  const validate = operationStep(scope, 'Validate the request', {
    operation: ops.planWorkflow,
    payload: { action: 'validate', workflow, 'request.$': '$' },
    resultPath: '$.validated',
  });
  const keepRequest = new sfn.Pass(scope, 'Keep the validated request', {
    parameters: { 'request.$': '$.validated.request', progress: { outOfService: [] } },
  });
  // What the lock's record says of the schema until an upgrade passes its point of no return (a Result keeps a null
  // that Parameters would drop).
  const noMigration = new sfn.Pass(scope, 'No migration has run yet', {
    result: sfn.Result.fromObject({ migratedTo: null }),
    resultPath: '$.schema',
  });
  const readCluster = operationStep(scope, 'Read the cluster', {
    operation: ops.snapshotCluster,
    payload: cluster,
    resultPath: '$.snapshot',
  });
  // Planning before the lock refuses an unhealthy cluster or a missing command without touching anything.
  const planFirst = operationStep(scope, 'Plan without touching anything', {
    operation: ops.planWorkflow,
    payload: { action: 'plan', workflow, 'request.$': '$.request', 'snapshot.$': '$.snapshot', budget },
    resultPath: '$.plan',
  });
  // A Pass that ends the execution rather than a Succeed: the same output, and a state that validators of the
  // definition (cfn-lint) accept with an OutputPath.
  const returnPlan = new sfn.Pass(scope, 'Return the plan', { outputPath: '$.plan' });
  const acquire = operationStep(scope, 'Acquire the cluster lock', {
    operation: ops.clusterLock,
    payload: {
      action: 'acquire',
      ...cluster,
      'owner.$': '$$.Execution.Id',
      workflow,
      leaseSeconds: options.leaseSeconds,
    },
    resultPath: '$.lock',
  });

  // Steps under the lock fail into the rollback path; the rollback's own steps carry on past their failures.
  const rollback = rollbackPath(scope, raising);
  const b = raising.failingTo(options.beforeRollback ? options.beforeRollback(raising, rollback) : rollback);

  const snapshot = b.step('Snapshot the cluster', ops.snapshotCluster, cluster, '$.snapshot');
  const plan = b.step(
    `Plan the ${options.planNoun}`,
    ops.planWorkflow,
    { action: 'plan', workflow, 'request.$': '$.request', 'snapshot.$': '$.snapshot', budget },
    '$.plan',
  );
  const release = b.step(
    'Release the cluster lock',
    ops.clusterLock,
    { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    '$.released',
  );
  const succeeded = new sfn.Succeed(scope, options.successLabel);
  // The work is done; a failed notification must not roll it back.
  const report = operationStep(scope, 'Report success', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow,
      step: options.successLabel,
      outcome: 'succeeded',
      'execution.$': '$$.Execution.Id',
    },
    resultPath: '$.notified',
  }).addCatch(succeeded, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
  const finish = release.next(report).next(succeeded);

  snapshot.next(plan).next(options.body(b, finish));
  return sfn.Chain.start(validate)
    .next(keepRequest)
    .next(noMigration)
    .next(readCluster)
    .next(planFirst)
    .next(
      new sfn.Choice(scope, 'Is this a dry run?')
        .when(sfn.Condition.booleanEquals('$.request.dryRun', true), returnPlan)
        .otherwise(
          acquire.next(
            // The lock was taken over from an execution that died without its rollback: recover from it first,
            // then snapshot the cluster as recovery left it.
            new sfn.Choice(scope, 'Did a dead execution leave work behind?')
              .when(sfn.Condition.isPresent('$.lock.target'), recoverySteps(raising, snapshot))
              .otherwise(snapshot),
          ),
        ),
    );
}
