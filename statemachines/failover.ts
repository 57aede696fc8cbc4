import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../functions/domain/errors';
import type { WorkflowName } from '../functions/domain/workflows';
import { cluster, retireLeftovers, rollbackPath, waitReady } from './fragments/node-steps';
import { operationStep } from './fragments/operation-step';
import { syncAfterTakeover } from './fragments/recovery';
import { type DefinitionOptions, WorkflowBuilder, type WorkflowOperations } from './workflow-builder';

export const FAILOVER = 'failover' satisfies WorkflowName;

/** States that tools outside the state machine follow (the sandbox's failover timeline). */
export const FAILOVER_STATES = {
  launchReplacement: 'Launch the replacement node',
  adoptReplacement: 'Adopt the replacement into the slot',
} as const;

/**
 * failover: started by a node's alarm (through EventBridge) with `{ cluster, slot, alarmName, detectedAt }`.
 *
 * Confirm the loss by probing the node again (a node that answers is a blip: nothing moves) → take the cluster lock,
 * pre-empting and stopping a maintenance workflow → move the lost node's weight to the healthy survivors, behind the
 * capacity guard → report → launch a replacement from the AMI, wait until it is ready, verify it → make it the
 * slot's permanent node → restore the steady weights (active/passive: it is the new passive node; active/active: it
 * serves again) → retire surge nodes a pre-empted workflow left → release, report the timeline.
 *
 * Two alarms at once start two executions: the second finds the first holding the lock and ends without touching
 * anything. A failure after the traffic moved leaves the traffic on the survivors and removes the replacement.
 */
export function failoverDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: DefinitionOptions,
): sfn.IChainable {
  const raising = WorkflowBuilder.underClusterLock(scope, ops, FAILOVER, options);

  const readAlarm = new sfn.Pass(scope, 'Read the alarm', { parameters: { 'request.$': '$' } });
  const confirm = operationStep(scope, 'Confirm the node loss', {
    operation: ops.confirmNodeLoss,
    payload: { ...cluster, 'slot.$': '$.request.slot' },
    resultPath: '$.loss',
    timeout: Duration.seconds(30),
  });

  const noFailover = new sfn.Succeed(scope, 'No failover: the node answered');
  const reportBlip = operationStep(scope, 'Report that the node answered', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow: FAILOVER,
      step: 'The node answered its checks again: no failover',
      outcome: 'succeeded',
      'execution.$': '$$.Execution.Id',
      detail: { 'slot.$': '$.loss.slot', 'instanceId.$': '$.loss.instanceId', 'findings.$': '$.loss.findings' },
    },
    resultPath: '$.notified',
  }).addCatch(noFailover, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
  reportBlip.next(noFailover);

  const alreadyOnIt = new sfn.Succeed(scope, 'Another failover is already on it');
  const takeOver = operationStep(scope, 'Take over the cluster lock', {
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

  // A node that carries no traffic while a maintenance workflow holds the lock is that workflow's to restart and
  // verify: a patch restarts the node it took out of service, and its missed heartbeats are no loss.
  const underMaintenance = new sfn.Succeed(scope, 'No failover: the node is out of service for maintenance');
  const readLock = operationStep(scope, 'Read the cluster lock', {
    operation: ops.clusterLock,
    payload: { action: 'read', ...cluster },
    resultPath: '$.holder',
  });
  readLock.next(
    new sfn.Choice(scope, 'Is the node under maintenance?')
      .when(sfn.Condition.booleanEquals('$.holder.maintenance', true), underMaintenance)
      .otherwise(takeOver),
  );

  // From here on a failure leaves the traffic where it is safe, removes the replacement, releases and reports.
  const b = raising.failingTo(rollbackPath(scope, raising));

  // A command the pre-empted workflow sent (a patch, a migration) must not go on behind the failover's back. A
  // cancellation that fails is reported in the output and does not stop the failover.
  const cancelCommands = operationStep(scope, "Cancel the pre-empted workflow's commands", {
    operation: ops.runCommand,
    payload: { action: 'cancel-unfinished', ...cluster },
    resultPath: '$.cancelled',
  });
  // The weights written must be those of the cluster as the lock found it: a pre-empted workflow may have moved
  // traffic or launched a surge node since "Confirm the node loss".
  const underLock = b.step(
    'Work out the move under the lock',
    ops.confirmNodeLoss,
    { ...cluster, 'slot.$': '$.request.slot', confirmed: true },
    '$.underLock',
    Duration.seconds(30),
  );
  cancelCommands.addCatch(underLock, { errors: [sfn.Errors.ALL], resultPath: '$.cancelError' }).next(underLock);
  const cancelIfPreempted = new sfn.Choice(scope, 'Was a workflow pre-empted?')
    .when(
      // Pre-empted, or dead without its rollback: either way its commands may still run.
      sfn.Condition.or(
        sfn.Condition.isPresent('$.lock.preempted'),
        sfn.Condition.isPresent('$.lock.holder.staleOwner'),
      ),
      cancelCommands,
    )
    .otherwise(underLock);
  const move = b.change(
    'Move traffic to the survivors',
    ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.underLock.weights', 'baselineServing.$': '$.underLock.baselineServing' },
    '$.moved',
    Duration.seconds(30),
  );
  const reportMove = operationStep(scope, 'Report the traffic move', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow: FAILOVER,
      step: 'Traffic moved off the lost node',
      outcome: 'step',
      'execution.$': '$$.Execution.Id',
      detail: {
        'slot.$': '$.loss.slot',
        'lostInstanceId.$': '$.loss.instanceId',
        'findings.$': '$.loss.findings',
        'weights.$': '$.moved.weights',
        'degraded.$': '$.underLock.degraded',
        'preempted.$': '$.lock',
        timeline: {
          'detectedAt.$': '$.request.detectedAt',
          'confirmedAt.$': '$.loss.assessedAt',
          'trafficMovedAt.$': '$.moved.shiftedAt',
        },
      },
    },
    resultPath: '$.notified',
  });

  const launch = b.change(
    FAILOVER_STATES.launchReplacement,
    ops.launchSurgeNode,
    { ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.surge',
  );
  const verify = b.step(
    'Verify the replacement node',
    ops.verifyNode,
    { ...cluster, 'instanceId.$': '$.surge.instanceId', expectedVersion: null },
    '$.verified',
  );
  const adopt = b.change(
    FAILOVER_STATES.adoptReplacement,
    ops.adoptReplacement,
    {
      ...cluster,
      'slot.$': '$.loss.slot',
      'lostInstanceId.$': '$.loss.instanceId',
      'replacementId.$': '$.surge.instanceId',
    },
    '$.adopted',
  );
  const restore = b.change(
    'Restore the steady weights',
    ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.underLock.restoreWeights' },
    '$.restored',
    Duration.seconds(30),
  );

  const release = b.step(
    'Release the cluster lock',
    ops.clusterLock,
    { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    '$.released',
  );
  const succeeded = new sfn.Succeed(scope, 'Failover complete');
  const report = operationStep(scope, 'Report the failover', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow: FAILOVER,
      step: 'Failover complete',
      outcome: 'succeeded',
      'execution.$': '$$.Execution.Id',
      detail: {
        'slot.$': '$.loss.slot',
        'lostInstanceId.$': '$.loss.instanceId',
        'replacementId.$': '$.adopted.instanceId',
        'weights.$': '$.restored.weights',
        timeline: {
          'detectedAt.$': '$.request.detectedAt',
          'confirmedAt.$': '$.loss.assessedAt',
          'trafficMovedAt.$': '$.moved.shiftedAt',
          'redundancyRestoredAt.$': '$.restored.shiftedAt',
        },
      },
    },
    resultPath: '$.notified',
  }).addCatch(succeeded, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });
  // A report that cannot be sent must not undo a failover.
  reportMove.addCatch(launch, { errors: [sfn.Errors.ALL], resultPath: '$.notifyError' });

  const start = sfn.Chain.start(readAlarm)
    .next(confirm)
    .next(
      new sfn.Choice(scope, 'Is the node lost?')
        .when(sfn.Condition.booleanEquals('$.loss.lost', false), reportBlip)
        .when(sfn.Condition.numberEquals('$.loss.lostWeight', 0), readLock)
        .otherwise(takeOver.next(cancelIfPreempted)),
    );
  // Both ways past "Was a workflow pre-empted?" meet at "Work out the move under the lock".
  underLock
    .next(move)
    .next(reportMove)
    .next(launch)
    .next(waitReady(b, 'the replacement node', '$.surge.instanceId', false))
    .next(verify)
    .next(adopt)
    .next(restore)
    .next(retireLeftovers(b, '$.underLock.leftoverSurgeNodes'))
    .next(syncAfterTakeover(b, release));
  release.next(report).next(succeeded);
  return start;
}
