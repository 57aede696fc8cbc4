import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ErrorName } from '../../functions/domain/errors';
import { LONGEST_OPERATION_SECONDS } from '../../functions/domain/workflows';
import type { WorkflowBuilder } from '../workflow-builder';
import { behindCarryOnFence, cluster, retireLeftovers } from './node-steps';
import { operationStep } from './operation-step';

/** Where the lock answer puts the dead execution to recover (see `recoveryTargetOf`). */
const TARGET = '$.lock.target';
/** How long recovery waits for the nodes of the safe weights to pass the capacity guard again (a node restarting). */
export const RECOVERY_GUARD_RETRY = { intervalSeconds: 15, maxAttempts: 20 } as const;

/**
 * Recovers the cluster from an execution that ended without its own rollback (aborted, timed out, crashed, its state
 * machine deleted), from the record it kept next to its lock, so nothing is guessed:
 *
 * 1. when it was stopped mid-step, let its last Lambda finish (a stop does not end a Lambda already running, and
 *    that Lambda may still send a command); cancel the zerodown commands still running (the lock is held here, so
 *    no running workflow owns one), and wait until they have ended, so no node is restarting behind the guard;
 * 2. restore the last weights the record calls safe, behind the capacity guard, retried while a node comes back;
 * 3. retire the surge nodes the execution launched (by its execution tag), unless they still carry traffic;
 * 4. resume file sync when the execution paused it on an unchanged manager; leave it paused, and say so, when the
 *    manager holds a change that was never verified (resuming would spread it);
 * 5. report what was done.
 *
 * Every step carries on past its own failure: a step that cannot be done is reported, never allowed to keep the
 * lock. Reads `$.lock.target`; each change passes the lock's fence first.
 */
export function recoverySteps(b: WorkflowBuilder, next: sfn.IChainable): sfn.IChainable {
  const { scope, ops } = b;
  const { begin, report } = beginAndReport(b, TARGET, next);

  // 4. File sync, by the rules of the workflow's own rollback.
  const syncStep = syncSteps(b, `${TARGET}.record`, report);

  // 3. The surge nodes it launched.
  // A surge node a migration still runs on (the wait for its commands ran out first) is left running: terminated, it
  // would stop the migration half-way. The report names it.
  const find = operationStep(scope, 'Recover: find its surge nodes', {
    operation: ops.retireNode,
    payload: {
      ...cluster,
      action: 'find',
      'execution.$': `${TARGET}.execution`,
      'exclude.$': '$.recovering.commands.busyInstanceIds',
    },
    resultPath: '$.recovering.surge',
  });
  const surgeDone = new sfn.Pass(scope, 'Recover: its surge nodes are dealt with');
  find.addCatch(surgeDone, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.surgeError' });
  find.next(retireLeftovers(b, '$.recovering.surge.instanceIds')).next(surgeDone);
  const findSurge = new sfn.Choice(scope, 'Recover: is it known which nodes still migrate?')
    .when(sfn.Condition.isPresent('$.recovering.commands.busyInstanceIds'), find)
    .otherwise(
      new sfn.Pass(scope, 'Recover: no node is known to migrate', {
        result: sfn.Result.fromObject({ busyInstanceIds: [] }),
        resultPath: '$.recovering.commands',
      }).next(find),
    );
  surgeDone.next(syncStep);

  // 2. The last safe weights.
  const restore = operationStep(scope, 'Recover: restore the last safe weights', {
    operation: ops.shiftTraffic,
    payload: {
      ...cluster,
      'weights.$': `${TARGET}.record.weights`,
      'baselineServing.$': `${TARGET}.record.baselineServing`,
    },
    resultPath: '$.recovering.weights',
  });
  // A node the dead execution was restarting fails the guard until it is back: wait for it, within bounds.
  restore.addRetry({
    errors: [ErrorName.CapacityGuard],
    interval: Duration.seconds(RECOVERY_GUARD_RETRY.intervalSeconds),
    maxAttempts: RECOVERY_GUARD_RETRY.maxAttempts,
    backoffRate: 1,
  });
  // Its surge nodes are deregistered next. The load balancer goes on using the old weights for a while after they
  // change, and a group it still sends to with no target answers 503: the restore's drain time covers that.
  const restoredTakeEffect = new sfn.Wait(scope, 'Recover: let the restored weights take effect', {
    time: sfn.WaitTime.secondsPath('$.recovering.weights.drainSeconds'),
  });
  restore
    .addCatch(findSurge, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.weightsError' })
    .next(restoredTakeEffect)
    .next(findSurge);
  const weightsStep = new sfn.Choice(scope, 'Recover: did it record safe weights?')
    .when(
      sfn.Condition.isPresent(`${TARGET}.record.weights`),
      behindCarryOnFence(b, restore, findSurge, '$.recovering.weightsError'),
    )
    .otherwise(findSurge);

  // 1. Its last Lambda and its commands.
  const cancel = operationStep(scope, 'Recover: cancel its commands', {
    operation: ops.runCommand,
    payload: { action: 'cancel-unfinished', ...cluster },
    resultPath: '$.recovering.cancelled',
  });
  // A poll that runs out of time carries on: the capacity guard still keeps traffic off a node that is down.
  const settled = b.failingTo(weightsStep).pollUntil({
    label: 'its commands to end',
    poll: operationStep(scope, 'Recover: check that its commands have ended', {
      operation: ops.runCommand,
      payload: { action: 'unfinished', ...cluster },
      resultPath: '$.recovering.commands',
    }).addCatch(weightsStep, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.commandsError' }),
    resultPath: '$.recovering.commands',
    done: sfn.Condition.booleanEquals('$.recovering.commands.settled', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: ErrorName.CommandTimedOut,
  });
  settled.next(weightsStep);
  cancel.addCatch(settled, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.cancelError' }).next(settled);
  const lastCall = new sfn.Wait(scope, 'Recover: let its last call finish', {
    time: sfn.WaitTime.duration(Duration.seconds(LONGEST_OPERATION_SECONDS)),
  }).next(cancel);
  // Only a failure ends an execution between steps; a stop, a timeout or an unknown end may leave one running.
  const howItEnded = new sfn.Choice(scope, 'Recover: did it end inside a step?')
    .when(sfn.Condition.stringEquals(`${TARGET}.status`, 'FAILED'), cancel)
    .otherwise(lastCall);
  begin.next(
    new sfn.Choice(scope, 'Recover: is it known how it ended?')
      .when(sfn.Condition.isPresent(`${TARGET}.status`), howItEnded)
      .otherwise(lastCall),
  );
  return begin;
}

/** The step a recovery's report names. */
export const RECOVERED_STEP = 'Recovered the cluster from an execution that ended without its rollback';

/**
 * File sync as the record at `recordPath` left it, by the rules of the workflow's own rollback: resumed when it was
 * paused on a manager that is still unchanged, left paused (and `$.recovering.syncLeftPaused` says why) when the
 * manager holds a change that was never verified. Both ways go on to `report`.
 */
function syncSteps(b: WorkflowBuilder, recordPath: string, report: sfn.IChainable): sfn.IChainable {
  const { scope, ops } = b;
  const resume = operationStep(scope, 'Recover: resume file sync on the manager node', {
    operation: ops.runCommand,
    payload: {
      action: 'send',
      ...cluster,
      'kind.$': `${recordPath}.sync.resume.kind`,
      'instanceIds.$': `States.Array(${recordPath}.sync.instanceId)`,
      'input.$': `${recordPath}.sync.resume.input`,
      'idempotencyKey.$': `States.Format('{}#recover-sync-resume#{}', ${recordPath}.execution, $$.Execution.Id)`,
    },
    resultPath: '$.recovering.syncResumed',
  });
  resume.addCatch(report, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.syncResumeError' }).next(report);
  const leftPaused = new sfn.Pass(scope, 'Recover: leave file sync paused', {
    result: sfn.Result.fromObject({
      reason: 'the manager node holds a change that was never verified; resuming sync would spread it to the workers',
    }),
    resultPath: '$.recovering.syncLeftPaused',
  }).next(report);
  // Choice rules on a missing path fail the execution, so each level is tested for presence first.
  const syncPaused = new sfn.Choice(scope, 'Recover: did it pause file sync?')
    .when(
      sfn.Condition.and(
        sfn.Condition.booleanEquals(`${recordPath}.sync.paused`, true),
        sfn.Condition.booleanEquals(`${recordPath}.sync.changed`, false),
      ),
      behindCarryOnFence(b, resume, report, '$.recovering.syncResumeError'),
    )
    .when(sfn.Condition.booleanEquals(`${recordPath}.sync.paused`, true), leftPaused)
    .otherwise(report);
  return new sfn.Choice(scope, 'Recover: did it touch file sync?')
    .when(sfn.Condition.isPresent(`${recordPath}.sync`), syncPaused)
    .otherwise(report);
}

/**
 * After a failover took the lock from a workflow (pre-empted, or dead), the file sync that workflow paused: the
 * failover moves traffic and retires surge nodes itself, but only the record knows about sync. Reads
 * `$.lock.holder.staleRecovery`; goes on to `next`.
 */
export function syncAfterTakeover(b: WorkflowBuilder, next: sfn.IChainable): sfn.IChainable {
  const record = '$.lock.holder.staleRecovery';
  const { begin, report } = beginAndReport(b, record, next);
  begin.next(syncSteps(b, record, report));
  return new sfn.Choice(b.scope, 'Did the workflow it took over from touch file sync?')
    .when(sfn.Condition.isPresent(`${record}.sync`), begin)
    .otherwise(next);
}

/**
 * The first and last states of a recovery: `$.recovering` names the execution recovered (from `targetPath`, which
 * has its `execution` and `workflow`), and the report sends what was done to the cluster's topic, then goes to `next`
 * whether or not it could be sent.
 */
function beginAndReport(b: WorkflowBuilder, targetPath: string, next: sfn.IChainable) {
  const begin = new sfn.Pass(b.scope, 'Recover: begin', {
    parameters: { 'execution.$': `${targetPath}.execution`, 'workflow.$': `${targetPath}.workflow` },
    resultPath: '$.recovering',
  });
  const report = operationStep(b.scope, 'Recover: report what was done', {
    operation: b.ops.notify,
    payload: {
      ...cluster,
      workflow: b.workflow,
      step: RECOVERED_STEP,
      outcome: 'recovered',
      'execution.$': '$$.Execution.Id',
      detail: { 'target.$': targetPath, 'done.$': '$.recovering' },
    },
    resultPath: '$.recovering.notified',
  });
  report.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.recovering.notifyError' }).next(next);
  return { begin, report };
}
