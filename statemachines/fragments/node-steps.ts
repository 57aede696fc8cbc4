import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../../functions/domain/errors';
import type { WorkflowBuilder } from '../workflow-builder';
import { operationStep } from './operation-step';
import { planPath } from './plan-path';

/** Every operation names the cluster, which the validated request carries. */
export const cluster = { 'cluster.$': '$.request.cluster' };

/** Polls a node until it is ready (running, agent online, target healthy, checks passing). */
export function waitReady(b: WorkflowBuilder, label: string, instanceIdPath: string, withVersion: boolean): sfn.Chain {
  const poll = b.step(
    `Check whether ${label} is ready`,
    b.ops.checkNodeReady,
    {
      ...cluster,
      'instanceId.$': instanceIdPath,
      ...(withVersion ? { 'expectedVersion.$': planPath('expectedVersion') } : { expectedVersion: null }),
    },
    '$.ready',
  );
  return b.pollUntil({
    label: `${label} to be ready`,
    poll,
    resultPath: '$.ready',
    done: sfn.Condition.booleanEquals('$.ready.ready', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: ErrorName.NodeNotReady,
  });
}

/** Runs a command on one node until it finishes, failing with CommandFailedError or CommandTimedOutError. */
export function runCommandOn(
  b: WorkflowBuilder,
  options: {
    label: string;
    noun: string;
    kindPath: string;
    inputPath: string;
    /** One node (`instanceIdPath`) or several (`instanceIdsPath`, an array). */
    instanceIdPath?: string;
    instanceIdsPath?: string;
    resultPath: string;
    /** Makes each pass of a loop send a new command rather than find the last one. */
    attemptPath?: string;
    /** Where a failed command goes instead of the rollback path, for commands that are retried until they pass. */
    onCommandFailed?: sfn.IChainable;
  },
): sfn.Chain {
  const targets = options.instanceIdsPath ?? `States.Array(${options.instanceIdPath})`;
  const targetKey = options.instanceIdsPath ? "'all'" : (options.instanceIdPath ?? '');
  const key = options.attemptPath
    ? `States.Format('{}#{}#{}#{}', $$.Execution.Id, ${options.kindPath}, ${targetKey}, ${options.attemptPath})`
    : `States.Format('{}#{}#{}', $$.Execution.Id, ${options.kindPath}, ${targetKey})`;
  const send = b.change(
    options.label,
    b.ops.runCommand,
    {
      action: 'send',
      ...cluster,
      'kind.$': options.kindPath,
      'instanceIds.$': targets,
      'input.$': options.inputPath,
      'idempotencyKey.$': key,
      pollIntervalSeconds: b.timing.pollIntervalSeconds,
    },
    '$.command',
  );
  const poll = operationStep(b.scope, `Check the ${options.noun}`, {
    operation: b.ops.runCommand,
    payload: {
      action: 'poll',
      ...cluster,
      'commandId.$': '$.command.commandId',
      'instanceIds.$': '$.command.instanceIds',
      'deadline.$': '$.command.deadline',
    },
    resultPath: options.resultPath,
  });
  if (options.onCommandFailed) {
    poll.addCatch(options.onCommandFailed, {
      errors: [ErrorName.CommandFailed],
      resultPath: `${options.resultPath}Failure`,
    });
  }
  b.catchInto(poll, `Check the ${options.noun}`);
  return sfn.Chain.start(send).next(
    b.pollUntil({
      label: `the ${options.noun} to finish`,
      // A command may run for hours: each poll renews the lease, so a long migration keeps its lock.
      poll: b.fenced(`Check the ${options.noun}`, poll),
      resultPath: options.resultPath,
      done: sfn.Condition.stringEquals(`${options.resultPath}.status`, 'Success'),
      // The command's own timeout bounds the loop: the poll cancels it at its deadline, a poll or two before this.
      maxAttemptsPath: '$.command.maxPolls',
      timeoutDescription: "the command's own timeout",
      timeoutError: ErrorName.CommandTimedOut,
    }),
  );
}

/** Checks a node again once it carries traffic: a node can pass its checks idle and fail under load. */
export function verifyUnderTraffic(b: WorkflowBuilder, label: string, instanceIdPath: string): sfn.TaskStateBase {
  return b.step(
    `Verify ${label} under traffic`,
    b.ops.verifyNode,
    { ...cluster, 'instanceId.$': instanceIdPath, 'expectedVersion.$': planPath('expectedVersion') },
    '$.verified',
  );
}

/**
 * Moves traffic as the plan says: one stage or several (gradual shifting), each set behind the capacity guard and,
 * when the operator asked for it, followed by a bake and a check of their alarms. Then waits out the drain time if
 * the move took traffic away from a node.
 */
export function shift(b: WorkflowBuilder, label: string, shiftPath: string): sfn.Chain {
  const scope = b.scope;
  const setWeights = b.change(
    label,
    b.ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.stage.weights', 'baselineServing.$': planPath('baselineServing') },
    '$.shift',
  );
  // A bake or a drain may last an hour: the lease is renewed before each, so it only has to outlast one of them.
  const bake = renewedWait(b, { wait: `Bake: ${label}`, renew: `Renew to bake: ${label}` }, '$.stage.bakeSeconds');
  const alarms = b.step(
    `Check the alarms: ${label}`,
    b.ops.checkAlarms,
    { ...cluster, 'alarms.$': '$.stage.alarms' },
    '$.alarms',
  );
  const stageDone = new sfn.Pass(scope, `Stage done: ${label}`);
  setWeights.next(
    new sfn.Choice(scope, `Bake and watch the alarms? ${label}`)
      .when(
        sfn.Condition.or(
          sfn.Condition.numberGreaterThan('$.stage.bakeSeconds', 0),
          sfn.Condition.isPresent('$.stage.alarms[0]'),
        ),
        bake.next(alarms).next(stageDone),
      )
      .otherwise(stageDone),
  );
  const drain = renewedWait(
    b,
    { wait: `Let connections drain: ${label}`, renew: `Renew to drain: ${label}` },
    `${shiftPath}.drainSeconds`,
  );
  return b
    .forEachInOrder({
      label: `stages of ${label}`,
      itemsPath: `${shiftPath}.stages`,
      itemPath: '$.stage',
      loopPath: '$.stageLoop',
      body: setWeights,
      bodyEnd: stageDone,
    })
    .next(drain);
}

/**
 * A Wait of the seconds at `secondsPath`, after a renewal of the lock's lease (which fails into the route). The
 * renewal has a short name of its own: state names end at 80 characters.
 */
function renewedWait(b: WorkflowBuilder, names: { wait: string; renew: string }, secondsPath: string): sfn.Chain {
  const wait = new sfn.Wait(b.scope, names.wait, { time: sfn.WaitTime.secondsPath(secondsPath) });
  return b.fenced(names.wait, wait, { stateName: names.renew });
}

/**
 * Deregisters the surge node, lets it drain, terminates it and waits until it is gone; or, on request, keeps it
 * running for debugging. A kept node leaves the surge target group all the same: the next rollout puts its own surge
 * node there and gives the slot a share, which a node kept for debugging must not get.
 */
export function retire(b: WorkflowBuilder): sfn.Chain {
  const retirePayload = (action: string) => ({ ...cluster, 'instanceId.$': '$.surge.instanceId', action });
  const retireAction = (label: string, action: string, resultPath: string) =>
    b.change(label, b.ops.retireNode, retirePayload(action), resultPath);
  const deregister = retireAction('Deregister the surge node', 'deregister', '$.retire');
  const drain = new sfn.Wait(b.scope, 'Let connections drain from the surge node', {
    time: sfn.WaitTime.secondsPath('$.retire.drainSeconds'),
  });
  const terminate = retireAction('Terminate the surge node', 'terminate', '$.retire');
  const gone = b.pollUntil({
    label: 'the surge node to be terminated',
    poll: b.step('Check whether the surge node is terminated', b.ops.retireNode, retirePayload('status'), '$.retire'),
    resultPath: '$.retire',
    done: sfn.Condition.booleanEquals('$.retire.terminated', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: ErrorName.NodeNotRetired,
  });
  const kept = new sfn.Pass(b.scope, 'Keep the surge node for debugging');
  const done = new sfn.Pass(b.scope, 'The surge node is dealt with');
  deregister
    .next(drain)
    .next(
      new sfn.Choice(b.scope, 'Keep the surge node?')
        .when(sfn.Condition.booleanEquals('$.request.keepSurge', true), kept.next(done))
        .otherwise(sfn.Chain.start(terminate).next(gone).next(done)),
    );
  return sfn.Chain.custom(deregister.startState, [done], done);
}

/**
 * Terminates surge nodes a workflow that is no longer running left behind (the ids at `itemsPath`), once the weights
 * no longer send them anything. A node that cannot be retired (it still has traffic, or the lock moved on) is left
 * for the operator and does not fail the workflow.
 */
export function retireLeftovers(b: WorkflowBuilder, itemsPath: string): sfn.Chain {
  const retired = new sfn.Pass(b.scope, 'Leftover surge node dealt with');
  const carryOn = (label: string, action: string) => {
    const step = operationStep(b.scope, label, {
      operation: b.ops.retireNode,
      payload: { ...cluster, 'instanceId.$': '$.leftover', action },
      resultPath: '$.leftoverRetire',
    });
    step.addCatch(retired, { errors: [sfn.Errors.ALL], resultPath: '$.leftoverError' });
    return behindCarryOnFence(b, step, retired, '$.leftoverError');
  };
  const terminate = carryOn('Terminate a leftover surge node', 'terminate').next(retired);
  const drain = new sfn.Wait(b.scope, 'Let connections drain from a leftover surge node', {
    time: sfn.WaitTime.secondsPath('$.leftoverRetire.drainSeconds'),
  });
  const deregister = carryOn('Deregister a leftover surge node', 'deregister').next(drain).next(terminate);
  return b.forEachInOrder({
    label: 'leftover surge nodes',
    itemsPath,
    itemPath: '$.leftover',
    loopPath: '$.leftoverLoop',
    body: deregister,
    bodyEnd: retired,
  });
}

/**
 * `step` behind the lock's fence, for a step that carries on when it fails: a lost lock skips the step, into
 * `onFailure`, with the error at `errorPath`. The fence is named after the step.
 */
export function behindCarryOnFence(
  b: WorkflowBuilder,
  step: sfn.TaskStateBase,
  onFailure: sfn.IChainable,
  errorPath: string,
): sfn.Chain {
  const hold = b
    .hold(step.node.id, { record: false })
    .addCatch(onFailure, { errors: [sfn.Errors.ALL], resultPath: errorPath });
  return sfn.Chain.start(hold).next(step);
}

/**
 * Puts the cluster back as the snapshot found it, as far as it safely can: restores the weights (the capacity
 * guard still refuses to send traffic to an unhealthy node), removes the surge node, releases the lock, reports,
 * and fails with the error and the step that failed. Each step carries on when it fails itself.
 */
export function rollbackPath(scope: Construct, b: WorkflowBuilder): sfn.IChainable {
  const ops = b.ops;
  const carryOn = (label: string, operation: typeof ops.shiftTraffic, payload: Record<string, unknown>, key: string) =>
    operationStep(scope, label, { operation, payload, resultPath: `$.rollback.${key}` });

  const describe = new sfn.Pass(scope, 'Describe the failure', {
    parameters: {
      'Error.$': '$.error.Error',
      'Cause.$': "States.Format('{} failed: {}', $.failedStep.step, $.error.Cause)",
    },
    resultPath: '$.failure',
  });
  const fail = new sfn.Fail(scope, 'Fail after rolling back', {
    errorPath: '$.failure.Error',
    causePath: '$.failure.Cause',
  });

  const report = carryOn(
    'Roll back: report the failure',
    ops.notify,
    {
      ...cluster,
      workflow: b.workflow,
      'step.$': '$.failedStep.step',
      outcome: 'rolled-back',
      'execution.$': '$$.Execution.Id',
      error: { 'name.$': '$.error.Error', 'cause.$': '$.error.Cause' },
      // What the rollback did and left: the weights, the surge node, the lock, and, past an upgrade's point of no
      // return, the database snapshot to restore from. The release before this step always writes it.
      'detail.$': '$.rollback',
    },
    'report',
  );
  const release = carryOn(
    'Roll back: release the cluster lock',
    ops.clusterLock,
    { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    'lock',
  );
  const terminate = carryOn(
    'Roll back: terminate the surge node',
    ops.retireNode,
    { ...cluster, 'instanceId.$': '$.surge.instanceId', action: 'terminate' },
    'terminate',
  );
  const deregister = carryOn(
    'Roll back: deregister the surge node',
    ops.retireNode,
    { ...cluster, 'instanceId.$': '$.surge.instanceId', action: 'deregister' },
    'deregister',
  );
  const restore = carryOn(
    'Roll back: restore the snapshot weights',
    ops.shiftTraffic,
    // Measured against the snapshot's serving nodes, not today's: a half-done gradual shift serves from both.
    { ...cluster, 'weights.$': planPath('weights', 'initial'), 'baselineServing.$': planPath('baselineServing') },
    'weights',
  );

  describe.next(fail);
  report.addCatch(describe, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.reportError' }).next(describe);
  release.addCatch(report, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.lockError' }).next(report);
  // Each change is fenced: a workflow that lost the lock (a failover took it over) changes nothing on the way out.
  // A surge node that still has traffic (the weights could not be restored) is left running, not cut off.
  terminate.addCatch(release, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.terminateError' }).next(release);
  deregister
    .addCatch(release, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.deregisterError' })
    .next(behindCarryOnFence(b, terminate, release, '$.rollback.terminateError'));
  const surgeLaunched = new sfn.Choice(scope, 'Was a surge node launched?')
    .when(
      sfn.Condition.isPresent('$.surge.instanceId'),
      behindCarryOnFence(b, deregister, release, '$.rollback.deregisterError'),
    )
    .otherwise(release);
  restore
    .addCatch(surgeLaunched, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.weightsError' })
    .next(surgeLaunched);
  return new sfn.Choice(scope, 'Is there a plan to roll back?')
    .when(
      sfn.Condition.isPresent(planPath('weights')),
      behindCarryOnFence(b, restore, surgeLaunched, '$.rollback.weightsError'),
    )
    .otherwise(surgeLaunched);
}
