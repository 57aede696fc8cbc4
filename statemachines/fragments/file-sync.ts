import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ErrorName } from '../../functions/domain/errors';
import { SYNC_CHECK_INTERVAL_SECONDS } from '../../functions/domain/plans/deploy-service';
import type { WorkflowBuilder } from '../workflow-builder';
import { cluster, runCommandOn } from './node-steps';
import { planPath } from './plan-path';

/**
 * For each worker, runs the service's smoke test until it passes: a failure means file sync has not delivered the
 * artifact yet, so the test is repeated after a pause, up to the plan's `syncMaxChecks`. With `verify`, each worker
 * then also gets the cluster's HTTP checks.
 *
 * Reads `$.plan.workers`, `$.plan.smokeTest` and `$.plan.syncMaxChecks`.
 */
export function waitForSync(b: WorkflowBuilder, options: { verify: boolean }): sfn.Chain {
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
      sfn.Condition.numberGreaterThanEqualsJsonPath('$.syncChecks.count', planPath('syncMaxChecks')),
      b.failure(label, ErrorName.FileSyncTimeout, 'The smoke test never passed on the worker within the sync timeout'),
    )
    .otherwise(pause);
  const check = runCommandOn(b, {
    label: 'Smoke-test the worker',
    noun: 'smoke test of the worker',
    kindPath: planPath('smokeTest', 'kind'),
    inputPath: planPath('smokeTest', 'input'),
    instanceIdPath: '$.worker.instanceId',
    resultPath: '$.syncCheck',
    attemptPath: '$.syncChecks.count',
    onCommandFailed: count,
  });
  const reached = new sfn.Pass(scope, 'File sync reached the worker');
  count.next(timeLeft);
  pause.next(check);
  check.next(reached);
  let bodyEnd: sfn.INextable = reached;
  if (options.verify) {
    const verify = b.step(
      'Verify the worker',
      b.ops.verifyNode,
      { ...cluster, 'instanceId.$': '$.worker.instanceId', expectedVersion: null },
      '$.verified',
    );
    reached.next(verify);
    bodyEnd = verify;
  }
  return b.forEachInOrder({
    label: 'wait for file sync on every worker',
    itemsPath: planPath('workers'),
    itemPath: '$.worker',
    loopPath: '$.workerLoop',
    body: sfn.Chain.start(start).next(check),
    bodyEnd,
  });
}
