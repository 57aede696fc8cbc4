import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../functions/domain/errors';
import type { WorkflowName } from '../functions/domain/workflows';
import { cluster, retireLeftovers, rollbackPath, runCommandOn, waitReady } from './fragments/node-steps';
import { operationStep } from './fragments/operation-step';
import { RECONFIGURE_STATE, reconfigureEveryNode } from './fragments/reconfigure';
import { syncAfterTakeover } from './fragments/recovery';
import { type DefinitionOptions, WorkflowBuilder, type WorkflowOperations } from './workflow-builder';

export const FAILOVER = 'failover' satisfies WorkflowName;

/** States that tools outside the state machine follow (the sandbox's failover timeline). */
export const FAILOVER_STATES = {
  launchReplacement: 'Launch the replacement node',
  adoptReplacement: 'Adopt the replacement into the slot',
  takeStandby: 'Take the standby surge node as the replacement',
  /** Entered once the steady weights are restored with a node in the lost slot: redundancy is back. */
  leaveSurgeSlot: 'Take the adopted node out of the surge slot',
  /** Entered, instead of leaveSurgeSlot, when an adopted standby must first stop getting traffic in the surge slot. */
  steadyWeightsTakeEffect: 'Let the steady weights take effect before the surge slot is left',
  /** Sends the model's reconfigure command to every node, with the addresses after the adoption. */
  reconfigure: RECONFIGURE_STATE,
  /** The critical path to the traffic moved, step by step: what the sandbox's report splits the time into. */
  confirmLoss: 'Confirm the node loss',
  takeLock: 'Take over the cluster lock',
  workOutMove: 'Work out the move under the lock',
  moveTraffic: 'Move traffic to the survivors',
  reportMove: 'Report the traffic move',
} as const;

/**
 * How a failover was started: by the alarm's change into ALARM, by the re-check of alarms that stay in ALARM, or by a
 * node's peer watch that saw the node stop answering.
 */
export const FAILOVER_TRIGGERS = ['alarm', 'recheck', 'peer'] as const;

/** The strings a failover's input must carry; the state machine checks them before anything runs. */
export const FAILOVER_INPUT_FIELDS = ['cluster', 'slot', 'alarmName', 'detectedAt'] as const;

/**
 * failover: started by a node's alarm (through EventBridge) with `{ cluster, slot, alarmName, detectedAt }`, or by
 * the re-check of alarms that stay in ALARM with `trigger: 'recheck'` as well.
 *
 * Check the input → confirm the loss by probing the node again (a node that answers is a blip: nothing moves) →
 * leave the node to a maintenance workflow only when that workflow's record names it as taken out of service and
 * not yet verified → take the cluster lock, pre-empting and stopping a maintenance workflow → move the lost node's
 * weight to the nodes known good (a healthy surge node included; never a node a workflow took out of service and
 * has not verified), behind the capacity guard → report → adopt the healthy surge node that reports the survivors'
 * version into the lost slot, or launch a replacement from the AMI, wait until it is ready and verify it (the
 * survivors' version too), when there is none → make it the slot's permanent node → restore the steady weights →
 * run the model's reconfigure command on every node with the new addresses (a failure is reported and changes nothing
 * else) → retire surge nodes a pre-empted workflow left, and stale standbys → release, report the timeline.
 *
 * Two alarms at once start two executions: the second finds the first holding the lock and ends without touching
 * anything. A failure after the traffic moved leaves the traffic on the survivors and removes the replacement. A
 * failure before the lock is reported before the execution fails; every way it ends leaves the slot's alarm to the
 * re-check, so a node that stays lost is acted on again.
 */
export function failoverDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: DefinitionOptions,
): sfn.IChainable {
  const raising = WorkflowBuilder.underClusterLock(scope, ops, FAILOVER, options);
  /** A report of this execution to the cluster topic; `event` holds the step, the outcome and what else it says. */
  const report = (name: string, event: Record<string, unknown>) =>
    operationStep(scope, name, {
      operation: ops.notify,
      payload: { ...cluster, workflow: FAILOVER, 'execution.$': '$$.Execution.Id', ...event },
      resultPath: '$.notified',
    });
  /** A report that cannot be sent must not change what the failover does: sent or not, it goes on to `next`. */
  const reportThen = (name: string, event: Record<string, unknown>, next: sfn.IChainable) => {
    const step = report(name, event);
    step.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' }).next(next);
    return step;
  };

  const readAlarm = new sfn.Pass(scope, 'Read the alarm', { parameters: { 'request.$': '$' } });
  // Checked in the state machine, not a Lambda: no hop on the way to moving traffic, and a clear error for a rule or
  // an operator that starts it with the wrong input.
  const invalidInput = new sfn.Fail(scope, 'Fail because the input is not an alarm of a slot', {
    error: ErrorName.InputValidation,
    cause:
      'failover needs {"cluster", "slot", "alarmName", "detectedAt"} as strings, as the node alarm rule sends them; ' +
      'see docs/failover.md',
  });
  // Rules are tried in order, so no rule reads a path an earlier one found missing (a Choice that reads a missing
  // path fails the execution with States.Runtime, which no Catch sees).
  const fields = FAILOVER_INPUT_FIELDS.map((field) => `$.${field}`);
  const checkInput = new sfn.Choice(scope, 'Is the input an alarm of a slot?');
  for (const field of fields) checkInput.when(sfn.Condition.not(sfn.Condition.isPresent(field)), invalidInput);
  checkInput
    .when(sfn.Condition.and(...fields.map((field) => sfn.Condition.isString(field))), readAlarm)
    .otherwise(invalidInput);

  // A failure before the lock is held moved nothing: it is reported, and the execution fails with its error.
  const failEarly = new sfn.Fail(scope, 'Fail without having moved anything', {
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  const reportEarlyFailure = reportThen(
    'Report that the failover could not act',
    {
      'step.$': '$.failedStep.step',
      outcome: 'failed',
      error: { 'name.$': '$.error.Error', 'cause.$': '$.error.Cause' },
      detail: { 'slot.$': '$.request.slot' },
    },
    failEarly,
  );
  const failedBeforeLock = (label: string) => {
    const note = new sfn.Pass(scope, `Failed: ${label}`, {
      result: sfn.Result.fromObject({ step: label }),
      resultPath: '$.failedStep',
    });
    note.next(reportEarlyFailure);
    return note;
  };

  const confirm = operationStep(scope, FAILOVER_STATES.confirmLoss, {
    operation: ops.confirmNodeLoss,
    payload: { ...cluster, 'slot.$': '$.request.slot' },
    resultPath: '$.loss',
  });
  confirm.addCatch(failedBeforeLock(FAILOVER_STATES.confirmLoss), {
    errors: [sfn.Errors.ALL],
    resultPath: '$.error',
  });

  const noFailover = new sfn.Succeed(scope, 'No failover: the node answered');
  /** A node that answered, and what it answered. */
  const answeredNode = {
    'slot.$': '$.loss.slot',
    'instanceId.$': '$.loss.instanceId',
    'findings.$': '$.loss.findings',
  };
  const reportBlip = reportThen(
    'Report that the node answered',
    { step: 'The node answered its checks again: no failover', outcome: 'succeeded', detail: answeredNode },
    noFailover,
  );
  // The re-check found the node answering while its alarm stays in ALARM: it publishes no heartbeat, so a real loss
  // would change no alarm state. Told when the re-check says so (5 minutes in ALARM, then hourly); failover stays
  // armed meanwhile.
  const quietRecheck = new sfn.Succeed(scope, 'No failover: the node answered the re-check');
  const reportSilentNode = reportThen(
    'Report a node that answers but sends no heartbeat',
    {
      step: 'The node answers its checks, but its heartbeat alarm stays in ALARM: check its heartbeat publisher',
      outcome: 'attention',
      detail: {
        'slot.$': '$.loss.slot',
        'instanceId.$': '$.loss.instanceId',
        'alarmName.$': '$.request.alarmName',
        'inAlarmSince.$': '$.request.detectedAt',
      },
    },
    quietRecheck,
  );
  // Nested rather than And: a Choice that reads a path the input lacks fails the execution.
  const remindNow = new sfn.Choice(scope, 'Time to remind the operator?')
    .when(sfn.Condition.not(sfn.Condition.isPresent('$.request.remind')), reportSilentNode)
    .when(sfn.Condition.booleanEquals('$.request.remind', true), reportSilentNode)
    .otherwise(quietRecheck);
  // A peer could not reach a node that answers zerodown from inside the VPC: the network between the nodes, or the
  // reporter's own, is failing. Nothing moves, and the operator is told: what the nodes send each other (file sync,
  // cluster membership) may be cut too.
  const reportUnreachable = reportThen(
    'Report a node that its peer could not reach',
    {
      step: 'A peer could not reach the node, which answers its checks: the nodes may be cut off from each other',
      outcome: 'attention',
      detail: answeredNode,
    },
    noFailover,
  );
  const answered = new sfn.Choice(scope, 'Was it a re-check?')
    .when(sfn.Condition.not(sfn.Condition.isPresent('$.request.trigger')), reportBlip)
    .when(sfn.Condition.stringEquals('$.request.trigger', 'recheck'), remindNow)
    .when(sfn.Condition.stringEquals('$.request.trigger', 'peer'), reportUnreachable)
    .otherwise(reportBlip);

  const alreadyOnIt = new sfn.Succeed(scope, 'Another failover is already on it');
  const takeOver = operationStep(scope, FAILOVER_STATES.takeLock, {
    operation: ops.clusterLock,
    payload: {
      action: 'preempt',
      ...cluster,
      'owner.$': '$$.Execution.Id',
      workflow: FAILOVER,
      leaseSeconds: options.leaseSeconds,
    },
    resultPath: '$.lock',
  }).addCatch(alreadyOnIt, { errors: [ErrorName.ClusterLocked], resultPath: '$.lockError' });
  takeOver.addCatch(failedBeforeLock(FAILOVER_STATES.takeLock), {
    errors: [sfn.Errors.ALL],
    resultPath: '$.error',
  });

  // A node that carries no traffic is the maintenance workflow's to restart and verify only when that workflow's
  // record names it as taken out of service, with its checks still to come: a patch restarts the node it patches,
  // and its missed heartbeats are no loss. Any other idle node that is lost is replaced.
  const underMaintenance = new sfn.Succeed(scope, 'No failover: the node is out of service for maintenance');
  const readLock = operationStep(scope, 'Read the cluster lock', {
    operation: ops.clusterLock,
    payload: { action: 'read', ...cluster, 'instanceId.$': '$.loss.instanceId' },
    resultPath: '$.holder',
  });
  readLock.addCatch(takeOver, { errors: [sfn.Errors.ALL], resultPath: '$.readLockError' });
  readLock.next(
    new sfn.Choice(scope, 'Is the node under maintenance?')
      .when(sfn.Condition.booleanEquals('$.holder.leaveToWorkflow', true), underMaintenance)
      .otherwise(takeOver),
  );

  // From here on a failure leaves the traffic where it is safe, removes the replacement, releases and reports.
  const b = raising.failingTo(rollbackPath(scope, raising));

  // A command the pre-empted workflow sent (a patch) must not go on behind the failover's back. A migration is left to
  // end (its own timeout bounds it): cut half-way, it would leave the schema in neither version. A cancellation that
  // fails is reported in the output and does not stop the failover.
  const cancelCommands = operationStep(scope, "Cancel the pre-empted workflow's commands", {
    operation: ops.runCommand,
    payload: { action: 'cancel-unfinished', ...cluster },
    resultPath: '$.cancelled',
  });
  // The weights written must be those of the cluster as the lock found it: a pre-empted workflow may have moved
  // traffic or launched a surge node since "Confirm the node loss".
  const underLock = b.step(
    FAILOVER_STATES.workOutMove,
    ops.confirmNodeLoss,
    {
      ...cluster,
      'slot.$': '$.request.slot',
      confirmed: true,
      'outOfService.$': '$.lock.outOfService',
      'migratedTo.$': '$.lock.migratedTo',
      'busy.$': '$.cancelled.busyInstanceIds',
    },
    '$.underLock',
  );
  // No workflow was stopped, or its commands could not be listed: no node is known to run a migration.
  const noneLeftRunning = new sfn.Pass(scope, 'No migration is known to be left running', {
    result: sfn.Result.fromObject({ cancelled: [], leftRunning: [], busyInstanceIds: [] }),
    resultPath: '$.cancelled',
  }).next(underLock);
  cancelCommands.addCatch(noneLeftRunning, { errors: [sfn.Errors.ALL], resultPath: '$.cancelError' }).next(underLock);
  const cancelIfPreempted = new sfn.Choice(scope, 'Was a workflow pre-empted?')
    .when(
      // Pre-empted, or dead without its rollback: either way its commands may still run.
      sfn.Condition.or(
        sfn.Condition.isPresent('$.lock.preempted'),
        sfn.Condition.isPresent('$.lock.holder.staleOwner'),
      ),
      cancelCommands,
    )
    .otherwise(noneLeftRunning);
  // The one change with no fence in front: "Take over the cluster lock" granted the lease a moment ago (only the
  // move's own work-out and a cancellation came between), so a renewal would check nothing the takeover did not, and
  // cost the traffic a Lambda hop while it still goes to the dead node. Every later change is fenced.
  const move = b.step(
    FAILOVER_STATES.moveTraffic,
    ops.shiftTraffic,
    {
      ...cluster,
      'weights.$': '$.underLock.weights',
      'baselineServing.$': '$.underLock.baselineServing',
      'model.$': '$.underLock.model',
    },
    '$.moved',
  );
  const reportMove = report(FAILOVER_STATES.reportMove, {
    step: 'Traffic moved off the lost node',
    outcome: 'step',
    detail: {
      'slot.$': '$.loss.slot',
      'lostInstanceId.$': '$.loss.instanceId',
      'findings.$': '$.loss.findings',
      'weights.$': '$.moved.weights',
      'degraded.$': '$.underLock.degraded',
      'standby.$': '$.underLock.standby',
      'currentVersion.$': '$.underLock.currentVersion',
      'staleStandbys.$': '$.underLock.staleStandbys',
      'outOfService.$': '$.underLock.outOfService',
      'preempted.$': '$.lock',
      timeline: {
        'detectedAt.$': '$.request.detectedAt',
        'confirmedAt.$': '$.loss.assessedAt',
        'trafficMovedAt.$': '$.moved.shiftedAt',
      },
    },
  });

  const launch = b.change(
    FAILOVER_STATES.launchReplacement,
    ops.launchSurgeNode,
    { ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.surge',
  );
  const verify = verifyReplacementVersion(b);
  // The launched node, or the standby: either way `$.replacement` is the node that takes the slot. The standby is
  // kept apart from `$.surge`, which the rollback retires.
  const launchedIsReplacement = new sfn.Pass(scope, 'Take the launched node as the replacement', {
    parameters: { 'instanceId.$': '$.surge.instanceId' },
    resultPath: '$.replacement',
  });
  const standbyIsReplacement = new sfn.Pass(scope, FAILOVER_STATES.takeStandby, {
    parameters: { 'instanceId.$': '$.underLock.standby' },
    resultPath: '$.replacement',
  });
  const adoptPayload = {
    ...cluster,
    'slot.$': '$.loss.slot',
    'lostInstanceId.$': '$.loss.instanceId',
    'replacementId.$': '$.replacement.instanceId',
  };
  const adopt = b.change(FAILOVER_STATES.adoptReplacement, ops.adoptReplacement, adoptPayload, '$.adopted');
  // A standby that serves keeps its surge registration until the restore has moved its weight to the slot; the
  // adoption run again after the restore leaves the surge slot.
  const leaveSurgeSlot = b.change(FAILOVER_STATES.leaveSurgeSlot, ops.adoptReplacement, adoptPayload, '$.adopted');
  const restore = b.change(
    'Restore the steady weights',
    ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.underLock.restoreWeights' },
    '$.restored',
  );

  const release = b.step(
    'Release the cluster lock',
    ops.clusterLock,
    { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    '$.released',
  );
  const succeeded = new sfn.Succeed(scope, 'Failover complete');
  const reportEnd = reportThen(
    'Report the failover',
    {
      step: 'Failover complete',
      outcome: 'succeeded',
      detail: {
        'slot.$': '$.loss.slot',
        'lostInstanceId.$': '$.loss.instanceId',
        'replacementId.$': '$.adopted.instanceId',
        'adoptedStandby.$': '$.underLock.adopt',
        'outOfService.$': '$.underLock.outOfService',
        'weights.$': '$.restored.weights',
        'reconfigure.$': '$.reconfigureOutcome',
        timeline: {
          'detectedAt.$': '$.request.detectedAt',
          'confirmedAt.$': '$.loss.assessedAt',
          'trafficMovedAt.$': '$.moved.shiftedAt',
          'redundancyRestoredAt.$': '$.restored.shiftedAt',
        },
      },
    },
    succeeded,
  );

  readAlarm
    .next(confirm)
    .next(
      new sfn.Choice(scope, 'Is the node lost?')
        .when(sfn.Condition.booleanEquals('$.loss.lost', false), answered)
        .when(sfn.Condition.numberEquals('$.loss.lostWeight', 0), readLock)
        .otherwise(takeOver.next(cancelIfPreempted)),
    );
  // Both ways past "Was a workflow pre-empted?" meet at "Work out the move under the lock".
  const replacement = new sfn.Choice(scope, 'Is a standby ready to take the slot?')
    .when(sfn.Condition.booleanEquals('$.underLock.adopt', true), standbyIsReplacement)
    .otherwise(launch);
  underLock.next(move).next(reportMove).next(replacement);
  // A report that cannot be sent must not undo a failover.
  reportMove.addCatch(replacement, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
  launch
    .next(waitReady(b, 'the replacement node', '$.surge.instanceId', false))
    .next(verify.first)
    .next(launchedIsReplacement)
    .next(adopt);
  verify.caughtUp.next(launchedIsReplacement);
  standbyIsReplacement.next(adopt);
  adopt
    // In its slot's target group now: healthy there before the restore may send it traffic.
    .next(waitReady(b, 'the node in its slot', '$.replacement.instanceId', false))
    .next(restore)
    .next(
      // A standby that served through the surge slot is deregistered from it next. The load balancer goes on using
      // the old weights for a while after they change, and a group it still sends to with no target answers 503: so
      // the surge slot's weight must have reached the data plane first. The restore's drain time covers that.
      new sfn.Choice(scope, 'Did the adopted standby serve in the surge slot?')
        .when(
          sfn.Condition.booleanEquals('$.underLock.adopt', true),
          new sfn.Wait(scope, FAILOVER_STATES.steadyWeightsTakeEffect, {
            time: sfn.WaitTime.secondsPath('$.restored.drainSeconds'),
          }).next(leaveSurgeSlot),
        )
        .otherwise(leaveSurgeSlot)
        .afterwards(),
    )
    // The slot is filled and the weights are steady: the members' list and the manager's address follow the node
    // that took the slot, before the lock is released. A failure here is reported and undoes nothing.
    .next(
      reconfigureEveryNode(b, {
        'slot.$': '$.loss.slot',
        'lostInstanceId.$': '$.loss.instanceId',
        'replacementId.$': '$.adopted.instanceId',
      }),
    )
    .next(retireLeftovers(b, '$.underLock.leftoverSurgeNodes'))
    .next(returnNodeLeftOutOfService(b, syncAfterTakeover(b, release)));
  release.next(reportEnd);
  return checkInput;
}

/**
 * A launched replacement must report the survivors' version (`replacementVersion`) before it is adopted; null
 * compares nothing. One that reports another (its image lags the cluster: a rollout changed the nodes but baked no
 * image) is brought to that version by the model's upgrade command while it carries no traffic, then verified again
 * (`replacementCatchUp`). Without an upgrade command, or when the upgrade does not get it there, it fails with
 * `VersionMismatchError`, and the rollback path removes it while the traffic stays on the survivors.
 */
function verifyReplacementVersion(b: WorkflowBuilder): { first: sfn.TaskStateBase; caughtUp: sfn.TaskStateBase } {
  const { scope, ops } = b;
  const versusSurvivors = (label: string) =>
    operationStep(scope, label, {
      operation: ops.verifyNode,
      payload: {
        ...cluster,
        'instanceId.$': '$.surge.instanceId',
        'expectedVersion.$': '$.underLock.replacementVersion',
      },
      resultPath: '$.verified',
    });
  const first = versusSurvivors('Verify the replacement node');
  const caughtUp = versusSurvivors('Verify the caught-up replacement node');
  b.catchInto(caughtUp, 'Verify the caught-up replacement node');
  const catchUp = runCommandOn(b, {
    label: "Upgrade the replacement to the survivors' version",
    noun: 'upgrade of the replacement',
    kindPath: '$.underLock.replacementCatchUp.kind',
    inputPath: '$.underLock.replacementCatchUp.input',
    instanceIdPath: '$.surge.instanceId',
    resultPath: '$.catchUpStatus',
  })
    .next(waitReady(b, 'the upgraded replacement', '$.surge.instanceId', false))
    .next(caughtUp);
  const failed = b.failedStep('Verify the replacement node');
  if (failed) {
    const catchUpOrFail = new sfn.Choice(scope, 'Can the upgrade command bring the replacement level?')
      // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
      .when(sfn.Condition.not(sfn.Condition.isNull('$.underLock.replacementCatchUp')), catchUp)
      .otherwise(failed);
    // The specific catcher goes first: Step Functions takes the first one that matches.
    first.addCatch(catchUpOrFail, { errors: [ErrorName.VersionMismatch], resultPath: '$.error' });
    first.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  }
  return { first, caughtUp };
}

/**
 * The node a pre-empted workflow had taken out of service (a patch it was applying, now cancelled) is nobody's once
 * the failover releases the lock: the failover waits for it to come back, verifies it and gives it its share again,
 * so the cluster ends known good. A node that does not come back or fails its checks is left out of service, which
 * the report says, and the re-check replaces it while its alarm stays in ALARM.
 */
function returnNodeLeftOutOfService(b: WorkflowBuilder, next: sfn.IChainable): sfn.IChainable {
  const { scope, ops } = b;
  const done = new sfn.Pass(scope, 'The node left out of service is dealt with');
  done.next(next);
  const carryOn = b.failingTo(done);
  const node = '$.underLock.outOfService[0].instanceId';
  // No version is expected: the pre-empted workflow was changing this node, so it may run the new version beside
  // survivors on the old one, as mid-rollout.
  const verify = carryOn.step(
    'Verify the node left out of service',
    ops.verifyNode,
    { ...cluster, 'instanceId.$': node, expectedVersion: null },
    '$.returned',
  );
  const giveBack = carryOn.change(
    'Give the verified node its traffic back',
    ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.underLock.returnWeights' },
    '$.returnedWeights',
  );
  const back = waitReady(carryOn, 'the node left out of service', node, false);
  back.next(verify).next(giveBack).next(done);
  return new sfn.Choice(scope, 'Did the workflow leave a node out of service?')
    .when(sfn.Condition.isPresent('$.underLock.outOfService[0]'), back)
    .otherwise(done);
}
