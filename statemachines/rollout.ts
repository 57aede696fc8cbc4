import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { operationStep } from './fragments/operation-step';
import { DEFAULT_TIMING, WorkflowBuilder, type WorkflowOperations, type WorkflowTiming } from './workflow-builder';

export interface RolloutWording {
  readonly workflow: 'patch-server' | 'upgrade-version';
  /** The per-node step: "Patch the passive node", "Upgrade the passive node". */
  readonly verb: string;
  /** What is checked while the command runs: "Check the patch of ...". */
  readonly noun: string;
}

export const PATCH_SERVER: RolloutWording = { workflow: 'patch-server', verb: 'Patch', noun: 'patch' };
export const UPGRADE_VERSION: RolloutWording = { workflow: 'upgrade-version', verb: 'Upgrade', noun: 'upgrade' };

const CLUSTER = '$.request.cluster';
const cluster = { 'cluster.$': CLUSTER };

/**
 * patch-server and upgrade-version: surge node first, then change, restart, test and return each permanent node in
 * turn (after the database migrations, for an upgrade), never letting healthy serving capacity fall below the
 * cluster's minimum. Any failure after the snapshot rolls back.
 *
 * Active/passive: change the passive node, move traffic to it, change the other, move traffic back (or keep it).
 * Active/active: put the surge node into service, then take each node out, change it, verify it and return it.
 */
export function rolloutDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: { wording: RolloutWording; timing?: WorkflowTiming; leaseSeconds: number },
): sfn.IChainable {
  const wording = options.wording;
  const WORKFLOW = wording.workflow;
  const b = new WorkflowBuilder(scope, ops, WORKFLOW, options.timing ?? DEFAULT_TIMING);

  // Before the lock: a bad request fails the execution with its named error, and nothing has been touched.
  const validate = operationStep(scope, 'Validate the request', {
    operation: ops.planWorkflow,
    payload: { action: 'validate', workflow: WORKFLOW, 'request.$': '$' },
    resultPath: '$.validated',
  });
  const keepRequest = new sfn.Pass(scope, 'Keep the validated request', {
    parameters: { 'request.$': '$.validated.request' },
  });
  const dryRunPlan = operationStep(scope, 'Plan without touching anything', {
    operation: ops.planWorkflow,
    payload: { action: 'plan', workflow: WORKFLOW, 'request.$': '$.request' },
    resultPath: '$.plan',
  });
  const returnPlan = new sfn.Succeed(scope, 'Return the plan', { outputPath: '$.plan' });
  const acquire = operationStep(scope, 'Acquire the cluster lock', {
    operation: ops.clusterLock,
    payload: {
      action: 'acquire',
      ...cluster,
      'owner.$': '$$.Execution.Id',
      workflow: WORKFLOW,
      leaseSeconds: options.leaseSeconds,
    },
    resultPath: '$.lock',
  });

  b.rollbackTo(rollbackPath(scope, b));

  const snapshot = b.step('Snapshot the cluster', ops.snapshotCluster, cluster, '$.snapshot');
  const plan = b.step(
    `Plan the ${wording.noun}`,
    ops.planWorkflow,
    { action: 'plan', workflow: WORKFLOW, 'request.$': '$.request', 'snapshot.$': '$.snapshot' },
    '$.plan',
  );

  const launch = b.step(
    'Launch the surge node',
    ops.launchSurgeNode,
    { ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.surge',
  );
  const surgeReady = waitReady(b, 'the surge node', '$.surge.instanceId', false);

  const release = b.step(
    'Release the cluster lock',
    ops.clusterLock,
    { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
    '$.released',
  );
  const succeeded = new sfn.Succeed(scope, `${wording.verb} succeeded`);
  // The patch is done; a failed notification must not roll it back.
  const report = operationStep(scope, 'Report success', {
    operation: ops.notify,
    payload: {
      ...cluster,
      workflow: WORKFLOW,
      step: `${wording.verb} succeeded`,
      outcome: 'succeeded',
      'execution.$': '$$.Execution.Id',
    },
    resultPath: '$.notified',
  }).addCatch(succeeded, { errors: ['States.ALL'], resultPath: '$.notifyError' });
  const retireThenFinish = retire(b).next(release).next(report).next(succeeded);

  const change = (label: string, instanceIdPath: string) => changeNode(b, wording, label, instanceIdPath);
  const activePassive = sfn.Chain.start(change('the passive node', '$.plan.first.instanceId'))
    .next(shift(b, 'Shift traffic to the patched node', '$.plan.shifts.toFirst'))
    .next(verifyUnderTraffic(b, 'the patched node', '$.plan.first.instanceId'))
    .next(change('the other node', '$.plan.second.instanceId'))
    .next(
      new sfn.Choice(scope, 'Shift traffic back?')
        .when(
          sfn.Condition.booleanEquals('$.request.shiftBack', true),
          shift(b, 'Shift traffic back', '$.plan.shifts.back').next(retireThenFinish),
        )
        .otherwise(retireThenFinish),
    );

  const takeOut = shift(b, 'Take the node out of service', '$.item.drain');
  const returned = shift(b, 'Return the node to service', '$.item.restore').next(
    verifyUnderTraffic(b, 'the node back in service', '$.item.node.instanceId'),
  );
  takeOut.next(change('the node in turn', '$.item.node.instanceId')).next(returned);
  const rotate = b.forEachInOrder({
    label: `${wording.noun} every node in turn`,
    itemsPath: '$.plan.rotation',
    itemPath: '$.item',
    loopPath: '$.rotationLoop',
    body: takeOut,
    bodyEnd: returned,
  });
  const activeActive = sfn.Chain.start(
    b.step(
      'Verify the surge node',
      ops.verifyNode,
      { ...cluster, 'instanceId.$': '$.surge.instanceId', expectedVersion: null },
      '$.verified',
    ),
  )
    .next(shift(b, 'Put the surge node into service', '$.plan.shifts.surgeIn'))
    .next(rotate)
    .next(shift(b, 'Take the surge node out of service', '$.plan.shifts.surgeOut'))
    .next(retireThenFinish);

  const byTopology = new sfn.Choice(scope, 'Which topology?')
    .when(sfn.Condition.stringEquals('$.plan.topology', 'active-active'), activeActive)
    .otherwise(activePassive);

  return sfn.Chain.start(validate)
    .next(keepRequest)
    .next(
      new sfn.Choice(scope, 'Is this a dry run?')
        .when(sfn.Condition.booleanEquals('$.request.dryRun', true), dryRunPlan.next(returnPlan))
        .otherwise(
          acquire.next(snapshot).next(plan).next(launch).next(surgeReady).next(migrations(b)).next(byTopology),
        ),
    );
}

/** Polls a node until it is ready (running, agent online, target healthy, checks passing). */
function waitReady(b: WorkflowBuilder, label: string, instanceIdPath: string, withVersion: boolean): sfn.Chain {
  const poll = b.step(
    `Check whether ${label} is ready`,
    b.ops.checkNodeReady,
    {
      ...cluster,
      'instanceId.$': instanceIdPath,
      ...(withVersion ? { 'expectedVersion.$': '$.plan.expectedVersion' } : { expectedVersion: null }),
    },
    '$.ready',
  );
  return b.pollUntil({
    label: `${label} to be ready`,
    poll,
    resultPath: '$.ready',
    done: sfn.Condition.booleanEquals('$.ready.ready', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: 'NodeNotReadyError',
  });
}

/** Runs a command on one node until it finishes, failing with CommandFailedError or CommandTimedOutError. */
function runCommandOn(
  b: WorkflowBuilder,
  options: {
    label: string;
    noun: string;
    kindPath: string;
    inputPath: string;
    instanceIdPath: string;
    resultPath: string;
  },
): sfn.Chain {
  const send = b.step(
    options.label,
    b.ops.runCommand,
    {
      action: 'send',
      ...cluster,
      'kind.$': options.kindPath,
      'instanceIds.$': `States.Array(${options.instanceIdPath})`,
      'input.$': options.inputPath,
      'idempotencyKey.$': `States.Format('{}#{}#{}', $$.Execution.Id, ${options.kindPath}, ${options.instanceIdPath})`,
    },
    '$.command',
  );
  const poll = b.step(
    `Check the ${options.noun}`,
    b.ops.runCommand,
    {
      action: 'poll',
      ...cluster,
      'commandId.$': '$.command.commandId',
      'instanceIds.$': '$.command.instanceIds',
      'deadline.$': '$.command.deadline',
    },
    options.resultPath,
  );
  return sfn.Chain.start(send).next(
    b.pollUntil({
      label: `the ${options.noun} to finish`,
      poll,
      resultPath: options.resultPath,
      done: sfn.Condition.stringEquals(`${options.resultPath}.status`, 'Success'),
      timeoutSeconds: b.timing.commandTimeoutSeconds,
      timeoutError: 'CommandTimedOutError',
    }),
  );
}

/** Runs the database migrations once, on the plan's migration node, when the plan has them. */
function migrations(b: WorkflowBuilder): sfn.Chain {
  const done = new sfn.Pass(b.scope, 'Migrations are dealt with');
  const run = runCommandOn(b, {
    label: 'Run the database migrations',
    noun: 'migrations',
    kindPath: '$.plan.migration.kind',
    inputPath: '$.plan.migration.input',
    instanceIdPath: '$.plan.migrationNode.instanceId',
    // Kept in the execution's result: the migration output is the record of what changed in the database.
    resultPath: '$.migration',
  });
  return sfn.Chain.custom(
    new sfn.Choice(b.scope, 'Any migrations to run?')
      // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
      .when(sfn.Condition.not(sfn.Condition.isNull('$.plan.migration')), run.next(done))
      .otherwise(done),
    [done],
    done,
  );
}

/** Sends the rollout's command to one node, waits for it, waits for the node to come back, verifies it. */
function changeNode(b: WorkflowBuilder, wording: RolloutWording, label: string, instanceIdPath: string): sfn.Chain {
  const verify = b.step(
    `Verify ${label}`,
    b.ops.verifyNode,
    { ...cluster, 'instanceId.$': instanceIdPath, 'expectedVersion.$': '$.plan.expectedVersion' },
    '$.verified',
  );
  return runCommandOn(b, {
    label: `${wording.verb} ${label}`,
    noun: `${wording.noun} of ${label}`,
    kindPath: '$.plan.command.kind',
    inputPath: '$.plan.command.input',
    instanceIdPath,
    resultPath: '$.commandStatus',
  })
    .next(waitReady(b, label, instanceIdPath, true))
    .next(verify);
}

/** Checks a node again once it carries traffic: a node can pass its checks idle and fail under load. */
function verifyUnderTraffic(b: WorkflowBuilder, label: string, instanceIdPath: string): sfn.TaskStateBase {
  return b.step(
    `Verify ${label} under traffic`,
    b.ops.verifyNode,
    { ...cluster, 'instanceId.$': instanceIdPath, 'expectedVersion.$': '$.plan.expectedVersion' },
    '$.verified',
  );
}

/**
 * Moves traffic as the plan says: one stage or several (gradual shifting), each set behind the capacity guard and,
 * when the operator asked for it, followed by a bake and a check of their alarms. Then waits out the drain time if
 * the move took traffic away from a node.
 */
function shift(b: WorkflowBuilder, label: string, shiftPath: string): sfn.Chain {
  const scope = b.scope;
  const setWeights = b.step(
    label,
    b.ops.shiftTraffic,
    { ...cluster, 'weights.$': '$.stage.weights', 'baselineServing.$': '$.plan.baselineServing' },
    '$.shift',
    Duration.seconds(90),
  );
  const bake = new sfn.Wait(scope, `Bake: ${label}`, { time: sfn.WaitTime.secondsPath('$.stage.bakeSeconds') });
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
  const drain = new sfn.Wait(scope, `Let connections drain: ${label}`, {
    time: sfn.WaitTime.secondsPath(`${shiftPath}.drainSeconds`),
  });
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

/** Deregisters the surge node, lets it drain, terminates it and waits until it is gone; or keeps it on request. */
function retire(b: WorkflowBuilder): sfn.Chain {
  const retireAction = (label: string, action: string, resultPath: string) =>
    b.step(label, b.ops.retireNode, { ...cluster, 'instanceId.$': '$.surge.instanceId', action }, resultPath);
  const deregister = retireAction('Deregister the surge node', 'deregister', '$.retire');
  const drain = new sfn.Wait(b.scope, 'Let connections drain from the surge node', {
    time: sfn.WaitTime.secondsPath('$.retire.drainSeconds'),
  });
  const terminate = retireAction('Terminate the surge node', 'terminate', '$.retire');
  const gone = b.pollUntil({
    label: 'the surge node to be terminated',
    poll: retireAction('Check whether the surge node is terminated', 'status', '$.retire'),
    resultPath: '$.retire',
    done: sfn.Condition.booleanEquals('$.retire.terminated', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: 'NodeNotRetiredError',
  });
  const kept = new sfn.Pass(b.scope, 'Keep the surge node for debugging');
  const done = new sfn.Pass(b.scope, 'The surge node is dealt with');
  return sfn.Chain.custom(
    new sfn.Choice(b.scope, 'Keep the surge node?')
      .when(sfn.Condition.booleanEquals('$.request.keepSurge', true), kept.next(done))
      .otherwise(sfn.Chain.start(deregister).next(drain).next(terminate).next(gone).next(done)),
    [done],
    done,
  );
}

/**
 * Puts the cluster back as the snapshot found it, as far as it safely can: restores the weights (the capacity
 * guard still refuses to send traffic to an unhealthy node), removes the surge node, releases the lock, reports,
 * and fails with the error and the step that failed. Each step carries on when it fails itself.
 */
function rollbackPath(scope: Construct, b: WorkflowBuilder): sfn.IChainable {
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
    { ...cluster, 'weights.$': '$.plan.weights.initial', 'baselineServing.$': '$.plan.baselineServing' },
    'weights',
  );

  describe.next(fail);
  report.addCatch(describe, { errors: ['States.ALL'], resultPath: '$.rollback.reportError' }).next(describe);
  release.addCatch(report, { errors: ['States.ALL'], resultPath: '$.rollback.lockError' }).next(report);
  // A surge node that still has traffic (the weights could not be restored) is left running, not cut off.
  terminate.addCatch(release, { errors: ['States.ALL'], resultPath: '$.rollback.terminateError' }).next(release);
  deregister.addCatch(release, { errors: ['States.ALL'], resultPath: '$.rollback.deregisterError' }).next(terminate);
  const surgeLaunched = new sfn.Choice(scope, 'Was a surge node launched?')
    .when(sfn.Condition.isPresent('$.surge.instanceId'), deregister)
    .otherwise(release);
  restore
    .addCatch(surgeLaunched, { errors: ['States.ALL'], resultPath: '$.rollback.weightsError' })
    .next(surgeLaunched);
  return new sfn.Choice(scope, 'Is there a plan to roll back?')
    .when(sfn.Condition.isPresent('$.plan.weights'), restore)
    .otherwise(surgeLaunched);
}
