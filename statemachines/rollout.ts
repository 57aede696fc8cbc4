import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { RolloutPlan, RolloutWorkflow } from '../functions/domain/plans/rollout';
import { STEPS } from '../functions/domain/plans/steps';
import { markOutOfService, markVerified, workflowFrame } from './fragments/frame';
import { cluster, retire, runCommandOn, shift, verifyUnderTraffic, waitReady } from './fragments/node-steps';
import { planPath } from './fragments/plan-path';
import type { DefinitionOptions, WorkflowBuilder, WorkflowOperations } from './workflow-builder';

export interface RolloutWording {
  readonly workflow: RolloutWorkflow;
  /** The per-node step: "Patch the passive node", "Upgrade the passive node". */
  readonly verb: string;
  /** What is checked while the command runs: "Check the patch of ...". */
  readonly noun: string;
}

export const PATCH_SERVER: RolloutWording = { workflow: 'patch-server', verb: 'Patch', noun: 'patch' };
export const UPGRADE_VERSION: RolloutWording = { workflow: 'upgrade-version', verb: 'Upgrade', noun: 'upgrade' };

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
  options: DefinitionOptions & { wording: RolloutWording },
): sfn.IChainable {
  const { wording } = options;
  return workflowFrame(scope, ops, {
    workflow: wording.workflow,
    planNoun: wording.noun,
    successLabel: `${wording.verb} succeeded`,
    leaseSeconds: options.leaseSeconds,
    executionTimeoutSeconds: options.executionTimeoutSeconds,
    ...(options.timing ? { timing: options.timing } : {}),
    body: (b, finish) => rolloutSteps(b, wording, finish),
  });
}

function rolloutSteps(b: WorkflowBuilder, wording: RolloutWording, finish: sfn.IChainable): sfn.IChainable {
  const { scope, ops } = b;
  const launch = b.change(
    'Launch the surge node',
    ops.launchSurgeNode,
    { ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.surge',
  );
  const surgeReady = waitReady(b, 'the surge node', '$.surge.instanceId', false);
  const retireThenFinish = retire(b).next(finish);

  const change = (label: string, instanceIdPath: string) => changeNode(b, wording, label, instanceIdPath);
  const activePassive = sfn.Chain.start(change('the passive node', planPath<RolloutPlan>('first', 'instanceId')))
    .next(shift(b, STEPS.shiftToPatched, planPath<RolloutPlan>('shifts', 'toFirst')))
    .next(verifyUnderTraffic(b, 'the patched node', planPath<RolloutPlan>('first', 'instanceId')))
    .next(change('the other node', planPath<RolloutPlan>('second', 'instanceId')))
    .next(
      new sfn.Choice(scope, 'Shift traffic back?')
        .when(
          sfn.Condition.booleanEquals('$.request.shiftBack', true),
          shift(b, STEPS.shiftBack, planPath<RolloutPlan>('shifts', 'back')).next(retireThenFinish),
        )
        .otherwise(retireThenFinish),
    );

  // Out of service from the drain on: a failover must not send it traffic back before its patch is verified.
  const takeOut = markOutOfService(scope, 'the drained node', '$.item.node.instanceId');
  const returned = shift(b, 'Return the node to service', '$.item.restore').next(
    verifyUnderTraffic(b, 'the node back in service', '$.item.node.instanceId'),
  );
  takeOut
    .next(shift(b, 'Take the node out of service', '$.item.drain'))
    .next(change('the node in turn', '$.item.node.instanceId'))
    .next(returned);
  const rotate = b.forEachInOrder({
    label: `${wording.noun} every node in turn`,
    itemsPath: planPath<RolloutPlan>('rotation'),
    itemPath: '$.item',
    loopPath: '$.rotationLoop',
    body: takeOut,
    bodyEnd: returned,
  });
  const activeActive = sfn.Chain.start(
    b.step(
      STEPS.verifySurge,
      ops.verifyNode,
      { ...cluster, 'instanceId.$': '$.surge.instanceId', expectedVersion: null },
      '$.verified',
    ),
  )
    .next(shift(b, STEPS.surgeIn, planPath<RolloutPlan>('shifts', 'surgeIn')))
    .next(rotate)
    .next(shift(b, STEPS.surgeOut, planPath<RolloutPlan>('shifts', 'surgeOut')))
    .next(retireThenFinish);

  const byTopology = new sfn.Choice(scope, 'Which topology?')
    .when(sfn.Condition.stringEquals(planPath<RolloutPlan>('topology'), 'active-active'), activeActive)
    .otherwise(activePassive);
  return launch.next(surgeReady).next(migrations(b)).next(byTopology);
}

/** Runs the database migrations once, on the plan's migration node, when the plan has them. */
function migrations(b: WorkflowBuilder): sfn.Chain {
  const done = new sfn.Pass(b.scope, 'Migrations are dealt with');
  const run = runCommandOn(b, {
    label: STEPS.runMigrations,
    noun: 'migrations',
    kindPath: planPath<RolloutPlan>('migration', 'kind'),
    inputPath: planPath<RolloutPlan>('migration', 'input'),
    instanceIdPath: planPath<RolloutPlan>('migrationNode', 'instanceId'),
    // Kept in the execution's result: the migration output is the record of what changed in the database.
    resultPath: '$.migration',
  });
  return sfn.Chain.custom(
    new sfn.Choice(b.scope, 'Any migrations to run?')
      // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
      .when(sfn.Condition.not(sfn.Condition.isNull(planPath<RolloutPlan>('migration'))), run.next(done))
      .otherwise(done),
    [done],
    done,
  );
}

/**
 * Sends the rollout's command to one node, waits for it, waits for the node to come back, verifies it. The lock's
 * record names the node as out of service from the command to its verification: a failover in between leaves the
 * node's loss to this workflow and never moves traffic to it.
 */
function changeNode(b: WorkflowBuilder, wording: RolloutWording, label: string, instanceIdPath: string): sfn.Chain {
  const verify = b.step(
    `Verify ${label}`,
    b.ops.verifyNode,
    { ...cluster, 'instanceId.$': instanceIdPath, 'expectedVersion.$': planPath<RolloutPlan>('expectedVersion') },
    '$.verified',
  );
  return sfn.Chain.start(markOutOfService(b.scope, label, instanceIdPath)).next(
    runCommandOn(b, {
      label: `${wording.verb} ${label}`,
      noun: `${wording.noun} of ${label}`,
      kindPath: planPath<RolloutPlan>('command', 'kind'),
      inputPath: planPath<RolloutPlan>('command', 'input'),
      instanceIdPath,
      resultPath: '$.commandStatus',
    })
      .next(waitReady(b, label, instanceIdPath, true))
      .next(verify)
      .next(markVerified(b.scope, label)),
  );
}
