import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { SYNC_CHECK_INTERVAL_SECONDS } from '../functions/lib/plans/deploy-service';
import { workflowFrame } from './fragments/frame';
import { runCommandOn } from './fragments/node-steps';
import type { WorkflowBuilder, WorkflowOperations, WorkflowTiming } from './workflow-builder';

export const DEPLOY_SERVICE = 'deploy-service';

/**
 * deploy-service: deploy a new service once, on the manager node; wait until file sync has carried it to every
 * worker (its smoke test passes there); smoke-test every node; expose it. No traffic moves, so the frame's rollback
 * only has the lock to release and the failure to report.
 */
export function deployServiceDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: { timing?: WorkflowTiming; leaseSeconds: number },
): sfn.IChainable {
  return workflowFrame(scope, ops, {
    workflow: DEPLOY_SERVICE,
    planNoun: 'deployment',
    successLabel: 'Deployment succeeded',
    leaseSeconds: options.leaseSeconds,
    ...(options.timing ? { timing: options.timing } : {}),
    body: (b, finish) => deploySteps(b, finish),
  });
}

function deploySteps(b: WorkflowBuilder, finish: sfn.IChainable): sfn.IChainable {
  const deploy = runCommandOn(b, {
    label: 'Deploy the service on the manager node',
    noun: 'deployment on the manager node',
    kindPath: '$.plan.deploy.kind',
    inputPath: '$.plan.deploy.input',
    instanceIdPath: '$.plan.manager.instanceId',
    resultPath: '$.deployment',
  });
  const smokeTestAll = runCommandOn(b, {
    label: 'Smoke-test every node',
    noun: 'smoke test of every node',
    kindPath: '$.plan.smokeTest.kind',
    inputPath: '$.plan.smokeTest.input',
    instanceIdsPath: '$.plan.allInstanceIds',
    resultPath: '$.smokeTest',
  });
  const expose = runCommandOn(b, {
    label: 'Expose the service',
    noun: 'exposure of the service',
    kindPath: '$.plan.expose.kind',
    inputPath: '$.plan.expose.input',
    instanceIdPath: '$.plan.manager.instanceId',
    resultPath: '$.exposed',
  });
  const exposeIfAsked = new sfn.Choice(b.scope, 'Expose the service?')
    .when(sfn.Condition.not(sfn.Condition.isNull('$.plan.expose')), expose.next(finish))
    .otherwise(finish);

  return sfn.Chain.start(deploy).next(waitForSync(b)).next(smokeTestAll).next(exposeIfAsked);
}

/**
 * For each worker, runs the service's smoke test until it passes: a failure means file sync has not delivered the
 * artifact yet, so the test is repeated after a pause, up to the sync timeout.
 */
function waitForSync(b: WorkflowBuilder): sfn.Chain {
  const scope = b.scope;
  const start = new sfn.Pass(scope, 'Start counting sync checks', {
    parameters: { count: 0 },
    resultPath: '$.syncChecks',
  });
  const count = new sfn.Pass(scope, 'Count the sync check', {
    parameters: { 'count.$': 'States.MathAdd($.syncChecks.count, 1)' },
    resultPath: '$.syncChecks',
  });
  const pause = new sfn.Wait(scope, 'Give file sync more time', {
    time: sfn.WaitTime.duration(Duration.seconds(SYNC_CHECK_INTERVAL_SECONDS)),
  });
  const label = 'Wait until file sync reaches the worker';
  const timeLeft = new sfn.Choice(scope, 'Is there sync time left?')
    .when(
      sfn.Condition.numberGreaterThanEqualsJsonPath('$.syncChecks.count', '$.plan.syncMaxChecks'),
      b.failure(label, 'FileSyncTimeoutError', 'The smoke test never passed on the worker within the sync timeout'),
    )
    .otherwise(pause);
  const check = runCommandOn(b, {
    label: 'Smoke-test the worker',
    noun: 'smoke test of the worker',
    kindPath: '$.plan.smokeTest.kind',
    inputPath: '$.plan.smokeTest.input',
    instanceIdPath: '$.worker.instanceId',
    resultPath: '$.syncCheck',
    attemptPath: '$.syncChecks.count',
    onCommandFailed: count,
  });
  const reached = new sfn.Pass(scope, 'File sync reached the worker');
  count.next(timeLeft);
  pause.next(check);
  check.next(reached);
  return b.forEachInOrder({
    label: 'wait for file sync on every worker',
    itemsPath: '$.plan.workers',
    itemPath: '$.worker',
    loopPath: '$.workerLoop',
    body: sfn.Chain.start(start).next(check),
    bodyEnd: reached,
  });
}
