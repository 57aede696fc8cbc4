import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ErrorName } from '../../functions/domain/errors';
import type { WorkflowBuilder } from '../workflow-builder';
import { cluster } from './node-steps';
import { operationStep } from './operation-step';

/** The state that sends `reconfigure`, which tools outside the state machine may follow. */
export const RECONFIGURE_STATE = 'Reconfigure every node';

/**
 * Runs the cluster's `reconfigure` command on every permanent node, with the members' and the manager's private
 * addresses as they are now, once a node was replaced: the product's member list and the workers' manager address
 * must follow the replacement's new address. A model without the command skips it.
 *
 * The command only brings the nodes' configuration up to date: the traffic has moved and the slot is filled by then,
 * so a failure here (a node that refuses it, a lock lost, a timeout) must not undo any of that. It is reported to the
 * cluster's topic (outcome `attention`) and the workflow carries on. Whatever happened is in `$.reconfigureOutcome`
 * (`status`: `succeeded`, `skipped` or `failed`), which the end report carries.
 */
export function reconfigureEveryNode(b: WorkflowBuilder, detail: Record<string, unknown>): sfn.Chain {
  const { scope, ops } = b;
  const done = new sfn.Pass(scope, 'Reconfigure is dealt with');

  const noteFailure = new sfn.Pass(scope, 'Note that reconfigure failed', {
    parameters: {
      status: 'failed',
      'step.$': '$.failedStep.step',
      'error.$': '$.error.Error',
      'cause.$': '$.error.Cause',
    },
    resultPath: '$.reconfigureOutcome',
  });
  const reportFailure = operationStep(scope, 'Report that reconfigure failed', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow: b.workflow,
      'execution.$': '$$.Execution.Id',
      step: 'Reconfigure failed: the traffic stays moved; run reconfigure on the nodes again',
      outcome: 'attention',
      error: { 'name.$': '$.error.Error', 'cause.$': '$.error.Cause' },
      detail: { ...detail, 'failedStep.$': '$.failedStep.step' },
    },
    resultPath: '$.notified',
  });
  // A report that cannot be sent changes nothing either: the outcome still says `failed` in the end report.
  reportFailure.addCatch(done, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
  noteFailure.next(reportFailure).next(done);

  // Every failure below, the fences' included, goes to the report and on, never to the rollback path.
  const carryOn = b.failingTo(noteFailure);
  const send = carryOn.change(
    RECONFIGURE_STATE,
    ops.runCommand,
    {
      action: 'reconfigure',
      ...cluster,
      'idempotencyKey.$': "States.Format('{}#reconfigure', $$.Execution.Id)",
      pollIntervalSeconds: carryOn.timing.pollIntervalSeconds,
    },
    '$.reconfigure',
  );
  const poll = operationStep(scope, 'Check the reconfigure command', {
    operation: ops.runCommand,
    payload: {
      action: 'poll',
      ...cluster,
      'commandId.$': '$.reconfigure.commandId',
      'instanceIds.$': '$.reconfigure.instanceIds',
      'deadline.$': '$.reconfigure.deadline',
    },
    resultPath: '$.reconfigured',
  });
  carryOn.catchInto(poll, 'Check the reconfigure command');
  const succeeded = new sfn.Pass(scope, 'Note that every node is reconfigured', {
    parameters: {
      status: 'succeeded',
      'commandId.$': '$.reconfigure.commandId',
      'instanceIds.$': '$.reconfigure.instanceIds',
      'members.$': '$.reconfigure.clusterValues.members',
      'manager.$': '$.reconfigure.clusterValues.manager',
    },
    resultPath: '$.reconfigureOutcome',
  });
  const wait = carryOn.pollUntil({
    label: 'the reconfigure command to finish',
    poll: carryOn.fenced('Check the reconfigure command', poll),
    resultPath: '$.reconfigured',
    done: sfn.Condition.stringEquals('$.reconfigured.status', 'Success'),
    maxAttemptsPath: '$.reconfigure.maxPolls',
    timeoutDescription: "the command's own timeout",
    timeoutError: ErrorName.CommandTimedOut,
  });
  wait.next(succeeded).next(done);

  const skipped = new sfn.Pass(scope, 'No reconfigure command to run', {
    parameters: { status: 'skipped', 'reason.$': '$.reconfigure.reason' },
    resultPath: '$.reconfigureOutcome',
  });
  skipped.next(done);
  send.next(
    new sfn.Choice(scope, 'Does the cluster have a reconfigure command?')
      .when(sfn.Condition.booleanEquals('$.reconfigure.skipped', true), skipped)
      .otherwise(wait),
  );
  return sfn.Chain.custom(send.startState, [done], done);
}
