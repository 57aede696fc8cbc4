import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../functions/domain/errors';
import type { WorkflowName } from '../functions/domain/workflows';
import { cluster } from './fragments/node-steps';
import { operationStep } from './fragments/operation-step';
import { recoverySteps } from './fragments/recovery';
import { type DefinitionOptions, WorkflowBuilder, type WorkflowOperations } from './workflow-builder';

export const RECOVER = 'recover' satisfies WorkflowName;

/**
 * recover: started with `{ cluster, execution?, status? }` by the rule on Step Functions status changes when one of
 * the cluster's executions ends ABORTED, TIMED_OUT or FAILED, or by an operator with `{ cluster }`.
 *
 * Take the lock (taking it over at once from a holder that is no longer running) → recover from the dead holder, by
 * the record it kept next to the lock, or else from the named execution → release → report. Idempotent: a second
 * run finds the lock free and the execution's surge nodes and commands gone, and changes nothing. A lock a running
 * execution holds is that execution's cluster, and recovery leaves it alone.
 */
export function recoverDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: DefinitionOptions,
): sfn.IChainable {
  const b = WorkflowBuilder.underClusterLock(scope, ops, RECOVER, options);
  const readRequest = new sfn.Pass(scope, 'Read the request', { parameters: { 'request.$': '$' } });
  const inUse = new sfn.Succeed(scope, 'Nothing to recover: a running execution holds the cluster');
  const claim = operationStep(scope, 'Take the cluster lock for recovery', {
    operation: ops.clusterLock,
    payload: {
      action: 'recover',
      ...cluster,
      'owner.$': '$$.Execution.Id',
      workflow: RECOVER,
      leaseSeconds: options.leaseSeconds,
      'ended.$': '$.request',
    },
    resultPath: '$.lock',
  });

  const succeeded = new sfn.Succeed(scope, 'Recovery complete');
  const failed = new sfn.Fail(scope, 'Fail after giving the lock back', {
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  // Releasing is the point of recovery: a release that fails is retried like any step, then fails the execution
  // loudly (its status rule reports it, and the next workflow takes the lock over at once).
  const releaseAfterFailure = operationStep(scope, 'Give the lock back after a failure', {
    operation: ops.clusterLock,
    payload: { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    resultPath: '$.released',
  });
  releaseAfterFailure.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' }).next(failed);
  claim
    .addCatch(inUse, { errors: [ErrorName.ClusterLocked], resultPath: '$.lockError' })
    .addCatch(releaseAfterFailure, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  const release = operationStep(scope, 'Release the cluster lock', {
    operation: ops.clusterLock,
    payload: { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    resultPath: '$.released',
  });
  release.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' }).next(succeeded);
  const nothingLeft = new sfn.Pass(scope, 'Nothing was left behind').next(release);
  return sfn.Chain.start(readRequest)
    .next(claim)
    .next(
      new sfn.Choice(scope, 'Is there an execution to recover?')
        .when(sfn.Condition.isPresent('$.lock.target'), recoverySteps(b, release))
        .otherwise(nothingLeft),
    );
}
