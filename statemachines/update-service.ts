import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { STEPS } from '../functions/domain/plans/steps';
import type { UpdatePlan } from '../functions/domain/plans/update-service';
import type { WorkflowName } from '../functions/domain/workflows';
import { waitForSync } from './fragments/file-sync';
import { markOutOfService, markVerified, workflowFrame } from './fragments/frame';
import {
  behindCarryOnFence,
  cluster,
  retire,
  runCommandOn,
  shift,
  verifyUnderTraffic,
  waitReady,
} from './fragments/node-steps';
import { operationStep } from './fragments/operation-step';
import { planPath } from './fragments/plan-path';
import type { DefinitionOptions, WorkflowBuilder, WorkflowOperations } from './workflow-builder';

export const UPDATE_SERVICE = 'update-service' satisfies WorkflowName;

/**
 * update-service: a hotfix of a deployed service, changed on the manager node (the source of file sync) while the
 * workers keep serving the old artifact untouched.
 *
 * Surge node first (the standby, or extra capacity in active/active) → pause file sync on the manager, so the
 * untested artifact reaches no serving node → take the manager out of service if it serves → deploy, smoke-test and
 * verify it → shift the traffic to it (off the workers) → resume sync, wait until each worker passes the smoke test
 * and verify it → rebalance to the weights as found → retire the surge node.
 *
 * Rollback restores the last weights known to be safe: the snapshot's before the manager changes, then the weights
 * that keep the changed manager out of service, and once the manager has passed its checks under traffic, the
 * weights that keep the traffic on it. File sync is resumed when the manager is still unchanged, and left paused
 * when it holds an artifact that failed, so the failure cannot spread to the workers.
 */
export function updateServiceDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: DefinitionOptions,
): sfn.IChainable {
  return workflowFrame(scope, ops, {
    workflow: UPDATE_SERVICE,
    planNoun: 'update',
    successLabel: 'Update succeeded',
    leaseSeconds: options.leaseSeconds,
    executionTimeoutSeconds: options.executionTimeoutSeconds,
    ...(options.timing ? { timing: options.timing } : {}),
    body: (b, finish) => updateSteps(b, finish),
    beforeRollback: resumeSyncIfUnchanged,
    // Whether the workflow paused file sync, and how to resume it: recovery follows the rollback's rules.
    record: { 'sync.$': '$.sync' },
  });
}

function updateSteps(b: WorkflowBuilder, finish: sfn.IChainable): sfn.IChainable {
  const { ops } = b;
  const launch = b.change(
    'Launch the surge node',
    ops.launchSurgeNode,
    { ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.surge',
  );
  const verifySurge = b.step(
    STEPS.verifySurge,
    ops.verifyNode,
    { ...cluster, 'instanceId.$': '$.surge.instanceId', 'expectedVersion.$': planPath<UpdatePlan>('surgeVersion') },
    '$.verified',
  );
  const command = (label: string, noun: string, commandPath: string, resultPath: string) =>
    runCommandOn(b, {
      label,
      noun,
      kindPath: `${commandPath}.kind`,
      inputPath: `${commandPath}.input`,
      instanceIdPath: planPath<UpdatePlan>('changed', 'instanceId'),
      resultPath,
    });

  const verifyChanged = b.step(
    STEPS.verifyUpdatedManager,
    ops.verifyNode,
    { ...cluster, 'instanceId.$': planPath<UpdatePlan>('changed', 'instanceId'), expectedVersion: null },
    '$.verified',
  );

  return (
    sfn.Chain.start(syncState(b, 'File sync is untouched', { paused: false, changed: false }))
      .next(launch)
      .next(waitReady(b, 'the surge node', '$.surge.instanceId', false))
      .next(verifySurge)
      .next(syncState(b, 'File sync may be paused from here', { paused: true, changed: false }))
      .next(command(STEPS.pauseSync, 'pause of file sync', planPath<UpdatePlan>('syncPause'), '$.syncPause'))
      .next(shiftIfPlanned(b, STEPS.managerOut, planPath<UpdatePlan>('shifts', 'changedOut')))
      .next(
        rollBackTo(b, 'On failure keep the manager node out of service', planPath<UpdatePlan>('weights', 'changedOut')),
      )
      .next(syncState(b, 'The manager node changes from here', { paused: true, changed: true }))
      // A deployment may restart the product: until the manager is verified again, a failover that its peer or its
      // alarm starts leaves it to this workflow and moves no traffic to it.
      .next(markOutOfService(b.scope, 'the manager node', planPath<UpdatePlan>('changed', 'instanceId')))
      .next(
        command(STEPS.deployHotfix, 'deployment on the manager node', planPath<UpdatePlan>('deploy'), '$.deployment'),
      )
      .next(
        command(
          STEPS.smokeTestManager,
          'smoke test of the manager node',
          planPath<UpdatePlan>('smokeTest'),
          '$.smokeTest',
        ),
      )
      .next(verifyChanged)
      .next(markVerified(b.scope, 'the manager node'))
      .next(shift(b, STEPS.shiftToUpdated, planPath<UpdatePlan>('shifts', 'toChanged')))
      .next(verifyUnderTraffic(b, 'the updated manager node', planPath<UpdatePlan>('changed', 'instanceId')))
      .next(
        rollBackTo(
          b,
          'On failure keep traffic on the updated manager node',
          planPath<UpdatePlan>('weights', 'changedServing'),
        ),
      )
      .next(command(STEPS.resumeSync, 'resumption of file sync', planPath<UpdatePlan>('syncResume'), '$.syncResume'))
      .next(syncState(b, 'File sync runs again', { paused: false, changed: true }))
      .next(waitForSync(b, { verify: true }))
      .next(shiftIfPlanned(b, STEPS.rebalance, planPath<UpdatePlan>('shifts', 'rebalance')))
      .next(retire(b))
      .next(finish)
  );
}

/** A shift the plan leaves null when there is nothing to move. */
function shiftIfPlanned(b: WorkflowBuilder, label: string, shiftPath: string): sfn.Chain {
  const done = new sfn.Pass(b.scope, `Dealt with: ${label}`);
  return sfn.Chain.custom(
    new sfn.Choice(b.scope, `Is there traffic to move? ${label}`)
      // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
      .when(sfn.Condition.not(sfn.Condition.isNull(shiftPath)), shift(b, label, shiftPath).next(done))
      .otherwise(done),
    [done],
    done,
  );
}

/**
 * Records where file sync stands, for the rollback (and a recovery, through the lock's record) to know whether it may
 * resume it, and how.
 */
function syncState(b: WorkflowBuilder, label: string, state: { paused: boolean; changed: boolean }): sfn.Pass {
  return new sfn.Pass(b.scope, label, {
    parameters: {
      ...state,
      'instanceId.$': planPath<UpdatePlan>('changed', 'instanceId'),
      'resume.$': planPath<UpdatePlan>('syncResume'),
    },
    resultPath: '$.sync',
  });
}

/** From here on, a rollback restores the plan's weights at `weightsPath` instead of the snapshot's. */
function rollBackTo(b: WorkflowBuilder, label: string, weightsPath: string): sfn.Pass {
  return new sfn.Pass(b.scope, label, {
    parameters: {
      'initial.$': weightsPath,
      'snapshot.$': planPath<UpdatePlan>('weights', 'snapshot'),
      'changedOut.$': planPath<UpdatePlan>('weights', 'changedOut'),
      'changedServing.$': planPath<UpdatePlan>('weights', 'changedServing'),
    },
    resultPath: planPath<UpdatePlan>('weights'),
  });
}

/** Why a rollback leaves file sync paused, in the operator's notice and the execution's output. */
const SYNC_LEFT_PAUSED_REASON =
  'the manager node holds a change that never passed under traffic; resuming file sync would spread it to the ' +
  'workers. Redeploy the previous artifact on the manager, or accept the change, then resume sync with resumeWith';

/**
 * Resumes file sync on the manager when the workflow paused it and the manager is still unchanged; when the manager
 * holds the change, leaves sync paused and tells the operator why.
 */
function resumeSyncIfUnchanged(b: WorkflowBuilder, rollback: sfn.IChainable): sfn.IChainable {
  const resume = operationStep(b.scope, 'Roll back: resume file sync on the manager node', {
    operation: b.ops.runCommand,
    payload: {
      action: 'send',
      ...cluster,
      'kind.$': planPath<UpdatePlan>('syncResume', 'kind'),
      'instanceIds.$': 'States.Array($.plan.changed.instanceId)',
      'input.$': planPath<UpdatePlan>('syncResume', 'input'),
      'idempotencyKey.$': "States.Format('{}#rollback-sync-resume', $$.Execution.Id)",
    },
    resultPath: '$.rollback.syncResume',
  });
  resume.addCatch(rollback, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.syncResumeError' }).next(rollback);
  // A manager that holds the change stays paused, so the change reaches no worker; the operator is told why and how
  // to go on, before the weights are put back. The notice is best effort: the rollback goes on either way.
  const leftPaused = new sfn.Pass(b.scope, 'Roll back: leave file sync paused on the manager node', {
    parameters: {
      reason: SYNC_LEFT_PAUSED_REASON,
      'manager.$': '$.plan.changed.instanceId',
      'resumeWith.$': planPath<UpdatePlan>('syncResume'),
    },
    resultPath: '$.rollback.syncLeftPaused',
  });
  const tell = operationStep(b.scope, 'Roll back: say why file sync stays paused', {
    operation: b.ops.notify,
    payload: {
      ...cluster,
      workflow: b.workflow,
      step: 'File sync left paused on the manager node',
      outcome: 'attention',
      'execution.$': '$$.Execution.Id',
      'detail.$': '$.rollback.syncLeftPaused',
    },
    resultPath: '$.rollback.syncLeftPausedNotice',
  });
  tell.addCatch(rollback, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.syncLeftPausedNoticeError' });
  leftPaused.next(tell);
  tell.next(rollback);
  const unchanged = new sfn.Choice(b.scope, 'Is the manager node unchanged with sync paused?')
    .when(
      sfn.Condition.and(
        sfn.Condition.booleanEquals('$.sync.paused', true),
        sfn.Condition.booleanEquals('$.sync.changed', false),
      ),
      behindCarryOnFence(b, resume, rollback, '$.rollback.syncResumeError'),
    )
    .when(sfn.Condition.booleanEquals('$.sync.paused', true), leftPaused)
    .otherwise(rollback);
  return new sfn.Choice(b.scope, 'Was file sync touched?')
    .when(sfn.Condition.isPresent('$.sync'), unchanged)
    .otherwise(rollback);
}
