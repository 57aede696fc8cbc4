import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../functions/domain/errors';
import type { MigrationPlan, RolloutPlan, RolloutWorkflow } from '../functions/domain/plans/rollout';
import { STEPS } from '../functions/domain/plans/steps';
import { markOutOfService, markVerified, workflowFrame } from './fragments/frame';
import { cluster, retire, runCommandOn, shift, verifyUnderTraffic, waitReady } from './fragments/node-steps';
import { operationStep } from './fragments/operation-step';
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
    ...(wording.workflow === 'upgrade-version' ? { beforeRollback: sayPastPointOfNoReturn } : {}),
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
  const retired = retire(b).next(recordVersionThen(b, finish));
  // Where the cluster bakes images, the image is baked and published before the surge node goes: it is the standby
  // while the node the image is baked from reboots.
  const retireThenFinish = b.ops.bakeImage ? bakeImageThen(b, wording, b.ops.bakeImage, retired) : retired;
  // Only an upgrade migrates: a patch's state machine carries none of the migration's states.
  const migration = wording.workflow === 'upgrade-version' ? new MigrationPoints(b) : undefined;
  const migrateAt = (point: MigrationPoint, next: sfn.IChainable): sfn.IChainable =>
    migration ? migration.at(point, next) : next;
  const rollForward = (label: string, weightsPath: string): sfn.Chain | undefined =>
    migration ? rollForwardTo(b, label, weightsPath) : undefined;
  const then = (chain: sfn.Chain, step: sfn.Chain | undefined): sfn.Chain => (step ? chain.next(step) : chain);

  const change = (label: string, instanceIdPath: string) => changeNode(b, wording, label, instanceIdPath);
  const first = planPath<RolloutPlan>('first', 'instanceId');
  const second = planPath<RolloutPlan>('second', 'instanceId');
  const shiftBackOrNot = new sfn.Choice(scope, 'Shift traffic back?')
    .when(
      sfn.Condition.booleanEquals('$.request.shiftBack', true),
      shift(b, STEPS.shiftBack, planPath<RolloutPlan>('shifts', 'back')).next(retireThenFinish),
    )
    .otherwise(retireThenFinish);
  const activePassive = migrateAt(
    {
      id: 'passive',
      order: 'first',
      instanceIdPath: first,
      weightsNowPath: planPath<RolloutPlan>('weights', 'initial'),
    },
    then(
      sfn.Chain.start(change('the passive node', first))
        .next(shift(b, STEPS.shiftToPatched, planPath<RolloutPlan>('shifts', 'toFirst')))
        .next(verifyUnderTraffic(b, 'the patched node', first)),
      rollForward('the patched node', planPath<RolloutPlan>('shifts', 'toFirst', 'target')),
    )
      .next(change('the other node', second))
      .next(
        migrateAt(
          {
            id: 'other',
            order: 'last',
            instanceIdPath: second,
            weightsNowPath: planPath<RolloutPlan>('shifts', 'toFirst', 'target'),
          },
          shiftBackOrNot,
        ),
      ),
  );

  // Out of service from the drain on: a failover must not send it traffic back before its patch is verified.
  const takeOut = markOutOfService(scope, 'the drained node', '$.item.node.instanceId');
  const returned = then(
    shift(b, 'Return the node to service', '$.item.restore').next(
      verifyUnderTraffic(b, 'the node back in service', '$.item.node.instanceId'),
    ),
    rollForward('the node back in service', '$.item.restore.target'),
  );
  then(
    sfn.Chain.start(takeOut).next(shift(b, 'Take the node out of service', '$.item.drain')),
    rollForward('the drained node', '$.item.drain.target'),
  )
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
  const surgeOutThenRetire = then(
    shift(b, STEPS.surgeOut, planPath<RolloutPlan>('shifts', 'surgeOut')),
    rollForward('the surge node out of service', planPath<RolloutPlan>('shifts', 'surgeOut', 'target')),
  ).next(
    migrateAt(
      {
        id: 'surge out',
        order: 'last',
        instanceIdPath: '$.surge.instanceId',
        weightsNowPath: planPath<RolloutPlan>('shifts', 'surgeOut', 'target'),
      },
      retireThenFinish,
    ),
  );
  const activeActive = sfn.Chain.start(
    migrateAt(
      {
        id: 'surge ready',
        order: 'first',
        instanceIdPath: '$.surge.instanceId',
        weightsNowPath: planPath<RolloutPlan>('weights', 'initial'),
      },
      shift(b, STEPS.surgeIn, planPath<RolloutPlan>('shifts', 'surgeIn')).next(rotate).next(surgeOutThenRetire),
    ),
  );

  const byTopology = new sfn.Choice(scope, 'Which topology?')
    .when(sfn.Condition.stringEquals(planPath<RolloutPlan>('topology'), 'active-active'), activeActive)
    .otherwise(activePassive);
  return launch.next(surgeReady).next(verifySurgeVersion(b, wording, byTopology));
}

/**
 * The surge node must run the cluster's version (`surgeVersion`) before it stands by or serves: in active/passive it
 * is the standby a failover adopts, and in active/active it takes a share of the traffic. One from a stale image
 * fails with `VersionMismatchError`, and the rollout rolls back before that node stands by or serves.
 *
 * Except where the change may be what it lacks (`surgeCatchUp`: the request names no version, or the nodes already
 * report the one it names). A rerun after an interrupted rollout that changed every node finds the image a change
 * behind the nodes, since the image is baked only at the end: the surge node gets this rollout's change and must then
 * report the cluster's version, or fail `Verify the caught-up surge node`.
 */
function verifySurgeVersion(b: WorkflowBuilder, wording: RolloutWording, next: sfn.IChainable): sfn.IChainable {
  const versusCluster = (label: string) =>
    operationStep(b.scope, label, {
      operation: b.ops.verifyNode,
      payload: {
        ...cluster,
        'instanceId.$': '$.surge.instanceId',
        'expectedVersion.$': planPath<RolloutPlan>('surgeVersion'),
      },
      resultPath: '$.verified',
    });
  const verify = versusCluster(STEPS.verifySurge);
  const verifyCaughtUp = versusCluster(STEPS.verifyCaughtUpSurge);
  const catchUp = changeNode(b, wording, STEPS.laggingSurge, '$.surge.instanceId');
  const failed = b.failedStep(STEPS.verifySurge);
  if (failed) {
    const catchUpOrFail = new sfn.Choice(b.scope, 'Can the change bring the surge node level?')
      .when(sfn.Condition.booleanEquals(planPath<RolloutPlan>('surgeCatchUp'), true), catchUp)
      .otherwise(failed);
    // The specific catcher goes first: Step Functions takes the first one that matches.
    verify.addCatch(catchUpOrFail, { errors: [ErrorName.VersionMismatch], resultPath: '$.error' });
    verify.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  }
  b.catchInto(verifyCaughtUp, STEPS.verifyCaughtUpSurge);
  catchUp.next(verifyCaughtUp);
  verifyCaughtUp.next(next);
  return verify.next(next);
}

/** A place in the rollout where the migrations may run, and what it knows there. */
interface MigrationPoint {
  /** Names the place in state names; unique within the state machine. */
  readonly id: string;
  /** Which of the plan's orders runs the migrations here. */
  readonly order: MigrationPlan['order'];
  /** A node that carries no traffic at this place. */
  readonly instanceIdPath: string;
  /** The weights in effect here: what a failure from the migration on keeps. */
  readonly weightsNowPath: string;
}

/**
 * The migrations, built once and entered from every place they may run (two per topology): each place notes itself
 * in `$.migrationPoint`, and the end goes back to the place's own next step. One copy keeps the template small.
 */
class MigrationPoints {
  private readonly entry: sfn.Choice;
  private readonly back: sfn.Choice;

  constructor(private readonly b: WorkflowBuilder) {
    const scope = b.scope;
    this.back = new sfn.Choice(scope, 'Go on from where the migrations were due');
    const done = new sfn.Pass(scope, 'Migrations are dealt with');
    done.next(this.back);

    const snapshotted = new sfn.Pass(scope, 'The database snapshot is available');
    const noSnapshot = new sfn.Pass(scope, 'No database to snapshot', {
      result: sfn.Result.fromObject({
        snapshotId: null,
        available: false,
        reason: 'the cluster model names no database',
      }),
      resultPath: '$.databaseSnapshot',
    });
    const passPointOfNoReturn = pointOfNoReturn(b);
    snapshotted.next(passPointOfNoReturn);
    noSnapshot.next(passPointOfNoReturn);
    const snapshot = b.ops.snapshotDatabase
      ? databaseSnapshot(b, b.ops.snapshotDatabase).next(snapshotted)
      : noSnapshot;
    passPointOfNoReturn.next(
      runCommandOn(b, {
        label: STEPS.runMigrations,
        noun: 'migrations',
        kindPath: planPath<RolloutPlan>('migration', 'kind'),
        inputPath: planPath<RolloutPlan>('migration', 'input'),
        instanceIdPath: '$.migrationPoint.instanceId',
        // Kept in the execution's result: the migration output is the record of what changed in the database.
        resultPath: '$.migration',
      }).next(done),
    );
    this.entry = new sfn.Choice(scope, 'Run the migrations here?')
      .when(
        sfn.Condition.and(
          // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
          sfn.Condition.not(sfn.Condition.isNull(planPath<RolloutPlan>('migration'))),
          sfn.Condition.stringEqualsJsonPath(planPath<RolloutPlan>('migration', 'order'), '$.migrationPoint.order'),
        ),
        new sfn.Choice(scope, 'Is there a database to snapshot?')
          .when(sfn.Condition.not(sfn.Condition.isNull(planPath<RolloutPlan>('migration', 'snapshot'))), snapshot)
          .otherwise(noSnapshot),
      )
      .otherwise(done);
  }

  /** Enters the migrations at `point`, and goes on to `next` after them (or at once, when they are due elsewhere). */
  at(point: MigrationPoint, next: sfn.IChainable): sfn.IChainable {
    this.back.when(sfn.Condition.stringEquals('$.migrationPoint.id', point.id), next);
    return new sfn.Pass(this.b.scope, `Migrations may run here: ${point.id}`, {
      parameters: {
        id: point.id,
        order: point.order,
        'instanceId.$': point.instanceIdPath,
        'weightsNow.$': point.weightsNowPath,
      },
      resultPath: '$.migrationPoint',
    }).next(this.entry);
  }
}

/**
 * Takes the snapshot of the cluster's database and waits until it is available: a migration never runs without its
 * restore point. The snapshot is named after the execution, so a retried step finds the one it started.
 */
function databaseSnapshot(b: WorkflowBuilder, operation: lambda.IFunction): sfn.Chain {
  const start = b.change(
    STEPS.snapshotDatabase,
    operation,
    {
      action: 'start',
      ...cluster,
      'execution.$': '$$.Execution.Id',
      'fromVersion.$': planPath<RolloutPlan>('migration', 'fromVersion'),
      pollIntervalSeconds: b.timing.pollIntervalSeconds,
    },
    '$.databaseSnapshotStarted',
  );
  const poll = b.step(
    'Check the database snapshot',
    operation,
    { action: 'status', ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.databaseSnapshot',
  );
  return start.next(
    b.pollUntil({
      label: 'the database snapshot to be available',
      poll,
      resultPath: '$.databaseSnapshot',
      done: sfn.Condition.booleanEquals('$.databaseSnapshot.available', true),
      maxAttemptsPath: '$.databaseSnapshotStarted.maxPolls',
      timeoutDescription: "the database's snapshotTimeoutSeconds",
      timeoutError: ErrorName.DatabaseSnapshotTimedOut,
    }),
  );
}

/**
 * From here on the schema is migrated: a failure no longer restores the snapshot's weights, which may send traffic to
 * nodes that cannot serve on the new schema, but keeps the weights in effect now, and names the snapshot.
 */
function pointOfNoReturn(b: WorkflowBuilder): sfn.Chain {
  const mark = new sfn.Pass(b.scope, 'Pass the point of no return', {
    parameters: {
      step: STEPS.runMigrations,
      'snapshot.$': '$.databaseSnapshot',
      'weights.$': '$.migrationPoint.weightsNow',
    },
    resultPath: '$.pointOfNoReturn',
  });
  // The next fence writes it into the lock's record: a failover from then on holds new nodes to this version.
  const schema = new sfn.Pass(b.scope, 'Note the version the migrated schema needs', {
    parameters: { 'migratedTo.$': planPath<RolloutPlan>('migration', 'schemaNeeds') },
    resultPath: '$.schema',
  });
  return sfn.Chain.start(mark)
    .next(schema)
    .next(keepOnFailure(b, 'at the point of no return', '$.migrationPoint.weightsNow'));
}

/** From here on, a rollback restores the weights at `weightsPath`, which serve only from nodes that run on the new schema. */
function keepOnFailure(b: WorkflowBuilder, label: string, weightsPath: string): sfn.Pass {
  return new sfn.Pass(b.scope, `Keep these weights on failure: ${label}`, {
    parameters: { 'initial.$': weightsPath, 'final.$': planPath<RolloutPlan>('weights', 'final') },
    resultPath: planPath<RolloutPlan>('weights'),
  });
}

/** Past the point of no return, a safe point moves what a failure keeps forward to the weights now in effect. */
function rollForwardTo(b: WorkflowBuilder, label: string, weightsPath: string): sfn.Chain {
  const on = new sfn.Pass(b.scope, `Go on: ${label}`);
  return sfn.Chain.custom(
    new sfn.Choice(b.scope, `Past the point of no return? ${label}`)
      .when(sfn.Condition.isPresent('$.pointOfNoReturn'), keepOnFailure(b, label, weightsPath).next(on))
      .otherwise(on),
    [on],
    on,
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
/**
 * A failure past the point of no return cannot undo the migration: before the shared rollback keeps the last safe
 * weights, the operator is told so, with the snapshot to restore from. The notice is best effort.
 */
function sayPastPointOfNoReturn(b: WorkflowBuilder, rollback: sfn.IChainable): sfn.IChainable {
  const record = new sfn.Pass(b.scope, 'Roll back: note the point of no return', {
    parameters: {
      reason:
        'the database migrations ran, so the schema cannot go back: traffic stays on the last safe weights, on ' +
        'nodes that run on the migrated schema. To go back, restore the snapshot and redeploy the previous version',
      'snapshot.$': '$.pointOfNoReturn.snapshot',
      'keptWeights.$': planPath<RolloutPlan>('weights', 'initial'),
    },
    resultPath: '$.rollback.pointOfNoReturn',
  });
  const tell = operationStep(b.scope, 'Roll back: say the migration stays', {
    operation: b.ops.notify,
    payload: {
      ...cluster,
      workflow: b.workflow,
      step: 'Failed past the point of no return',
      outcome: 'attention',
      'execution.$': '$$.Execution.Id',
      'detail.$': '$.rollback.pointOfNoReturn',
    },
    resultPath: '$.rollback.pointOfNoReturnNotice',
  });
  tell.addCatch(rollback, { errors: [sfn.Errors.ALL], resultPath: '$.rollback.pointOfNoReturnNoticeError' });
  record.next(tell);
  tell.next(rollback);
  return new sfn.Choice(b.scope, 'Past the point of no return?')
    .when(sfn.Condition.isPresent('$.pointOfNoReturn'), record)
    .otherwise(rollback);
}

/**
 * Where a step that failed after the rollout succeeded goes: the failure is noted at `resultPath` with `reason` and
 * sent to the operator as an `attention` notice, then the workflow goes on to `next`. Nothing is rolled back.
 */
function attentionThen(
  b: WorkflowBuilder,
  names: { note: string; say: string; step: string },
  reason: string,
  resultPath: string,
  next: sfn.IChainable,
): sfn.Pass {
  const note = new sfn.Pass(b.scope, names.note, {
    parameters: { reason, 'step.$': '$.failedStep.step', 'error.$': '$.error' },
    resultPath,
  });
  const tell = operationStep(b.scope, names.say, {
    operation: b.ops.notify,
    payload: {
      ...cluster,
      workflow: b.workflow,
      step: names.step,
      outcome: 'attention',
      'execution.$': '$$.Execution.Id',
      'detail.$': resultPath,
    },
    resultPath: `${resultPath}Notice`,
  });
  tell.addCatch(next, { errors: [sfn.Errors.ALL], resultPath: `${resultPath}NoticeError` });
  note.next(tell);
  tell.next(next);
  return note;
}

/**
 * Records the version the serving nodes now report, where a region failover reads it to check its DR nodes (the
 * primary region may be gone by then). The rollout has succeeded: a record that cannot be written rolls nothing back,
 * but the operator is told, since a DR check against the old record would refuse DR nodes of the new version.
 */
function recordVersionThen(b: WorkflowBuilder, next: sfn.IChainable): sfn.IChainable {
  const notRecorded = attentionThen(
    b,
    {
      note: 'Note that the version was not recorded',
      say: 'Say that the version was not recorded',
      step: 'Version not recorded',
    },
    "the rollout succeeded, but the cluster's version record was not written: a region failover compares its DR " +
      'nodes with the record it finds, which still names the version before this rollout',
    '$.versionNotRecorded',
    next,
  );
  return b
    .failingTo(notRecorded)
    .step(
      STEPS.recordVersion,
      b.ops.snapshotCluster,
      { ...cluster, action: 'record-version', 'execution.$': '$$.Execution.Id' },
      '$.versionRecord',
    )
    .next(next);
}

/**
 * Bakes the image of a node that carries no traffic, copies it to the DR region, and publishes it to the image
 * parameters, then goes on to `next`. The rollout has succeeded by then: a bake that fails rolls nothing back; it is
 * reported for the operator, and the image parameters keep the image they had.
 */
function bakeImageThen(
  b: WorkflowBuilder,
  wording: RolloutWording,
  operation: lambda.IFunction,
  next: sfn.IChainable,
): sfn.IChainable {
  const scope = b.scope;
  const idleNode = planPath<RolloutPlan>('image', 'node', 'instanceId');
  const fromIdleNode = sfn.Condition.not(sfn.Condition.isString(planPath<RolloutPlan>('image', 'node')));
  // Filled in below; the idle node's return is waited for whether the bake worked or not (it may have rebooted).
  const copyOrNot = new sfn.Choice(scope, 'Copy the image to a DR region?');
  const idleNodeBack = idleNodeBackThen(
    b,
    idleNode,
    new sfn.Choice(scope, 'Was the image baked?')
      .when(sfn.Condition.isPresent('$.imageNotBaked'), next)
      .otherwise(copyOrNot),
  );
  const notBaked = attentionThen(
    b,
    { note: 'Note that the image was not baked', say: 'Say that the image was not baked', step: 'Image not baked' },
    'the rollout succeeded, but baking its image failed: the image parameters keep the image they had, so new ' +
      'surge, replacement and DR nodes boot on the previous version until an image is baked. Later rollouts refuse ' +
      'such a surge node; to bake one, run upgrade-version with the version the nodes run and migrate false',
    '$.imageNotBaked',
    new sfn.Choice(scope, 'Was the image to come from the idle node?').when(fromIdleNode, idleNodeBack).otherwise(next),
  );
  const bake = b.failingTo(notBaked);

  const source = (label: string, instanceIdPath: string) =>
    new sfn.Pass(scope, label, { parameters: { 'instanceId.$': instanceIdPath }, resultPath: '$.imageSource' });
  const fromSurge = changeNode(bake, wording, 'the surge node for the image', '$.surge.instanceId').next(
    source('Bake from the surge node', '$.surge.instanceId'),
  );
  const create = bake.change(
    STEPS.bakeImage,
    operation,
    {
      action: 'create',
      ...cluster,
      'instanceId.$': '$.imageSource.instanceId',
      'version.$': planPath<RolloutPlan>('image', 'version'),
      'execution.$': '$$.Execution.Id',
      pollIntervalSeconds: bake.timing.pollIntervalSeconds,
    },
    '$.image',
  );
  const available = (label: string, imagePath: string, resultPath: string, regionPath?: string) =>
    bake.pollUntil({
      label,
      poll: bake.step(
        `Check: ${label}`,
        operation,
        {
          action: 'status',
          ...cluster,
          'imageId.$': imagePath,
          ...(regionPath ? { 'region.$': regionPath } : {}),
        },
        resultPath,
      ),
      resultPath,
      done: sfn.Condition.booleanEquals(`${resultPath}.available`, true),
      maxAttemptsPath: '$.image.maxPolls',
      timeoutDescription: "the model's images.bakeTimeoutSeconds",
      timeoutError: ErrorName.ImageBakeTimedOut,
    });
  const copy = bake
    .change(STEPS.copyImage, operation, { action: 'copy', ...cluster, 'imageId.$': '$.image.imageId' }, '$.imageCopy')
    .next(
      available(
        'the image copy to be available',
        '$.imageCopy.drImageId',
        '$.imageCopyState',
        planPath<RolloutPlan>('image', 'drRegion'),
      ),
    );
  const noCopy = new sfn.Pass(scope, 'No DR region to copy the image to', {
    result: sfn.Result.fromObject({ drImageId: null }),
    resultPath: '$.imageCopy',
  });
  const publish = bake.change(
    STEPS.publishImage,
    operation,
    { action: 'publish', ...cluster, 'imageId.$': '$.image.imageId', 'drImageId.$': '$.imageCopy.drImageId' },
    '$.imagePublished',
  );
  copy.next(publish);
  noCopy.next(publish);
  publish.next(next);
  copyOrNot
    // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
    .when(sfn.Condition.not(sfn.Condition.isNull(planPath<RolloutPlan>('image', 'drRegion'))), copy)
    .otherwise(noCopy);
  create
    .next(available('the image to be available', '$.image.imageId', '$.imageState'))
    .next(
      new sfn.Choice(scope, 'Was the image baked from the idle node?')
        .when(fromIdleNode, idleNodeBack)
        .otherwise(copyOrNot),
    );
  fromSurge.next(create);
  return new sfn.Choice(scope, 'Bake an image?')
    .when(
      sfn.Condition.not(sfn.Condition.isNull(planPath<RolloutPlan>('image'))),
      new sfn.Choice(scope, 'Bake from the surge node?')
        .when(sfn.Condition.isString(planPath<RolloutPlan>('image', 'node')), fromSurge)
        .otherwise(
          // The bake reboots the node (file systems are consistent only so). Out of service in the lock's record
          // from before the bake until it is back and verified, its reboot is this workflow's: a failover that a
          // peer or an alarm starts meanwhile leaves it alone instead of pre-empting the rollout.
          sfn.Chain.start(markOutOfService(scope, 'the idle node for the image', idleNode))
            .next(source('Bake from the idle node', idleNode))
            .next(create),
        ),
    )
    .otherwise(next);
}

/**
 * Waits until the node the image was baked from is back from the bake's reboot, and verifies it, before the rollout
 * goes on to retire the surge node: it is the passive node a failover would move the traffic to. The image is
 * available by then (or its bake failed, maybe after the reboot began), so the reboot has happened. A node that does
 * not come back is told to the operator and no longer noted out of service; the rollout still succeeds (the node
 * carries no traffic) and its alarm hands it to failover.
 */
function idleNodeBackThen(b: WorkflowBuilder, instanceIdPath: string, next: sfn.IChainable): sfn.IChainable {
  const notBack = attentionThen(
    b,
    {
      note: 'Note that the idle node did not come back from the bake',
      say: 'Say that the idle node did not come back from the bake',
      step: 'Image source not back',
    },
    'the image was baked, but the node it was baked from did not pass its checks after the bake rebooted it: it ' +
      'carries no traffic, and failover replaces it once its alarm fires',
    '$.imageSourceNotBack',
    next,
  );
  // Not this workflow's to wait for any longer: a failover its alarm starts replaces it.
  const leftToFailover = new sfn.Pass(b.scope, 'Note: the idle node for the image is left to failover', {
    result: sfn.Result.fromObject({ outOfService: [] }),
    resultPath: '$.progress',
  }).next(notBack);
  const back = b.failingTo(leftToFailover);
  const label = 'the idle node for the image';
  return waitReady(back, label, instanceIdPath, true)
    .next(
      back.step(
        STEPS.verifyImageSource,
        b.ops.verifyNode,
        { ...cluster, 'instanceId.$': instanceIdPath, 'expectedVersion.$': planPath<RolloutPlan>('expectedVersion') },
        '$.verified',
      ),
    )
    .next(markVerified(b.scope, label))
    .next(next);
}
