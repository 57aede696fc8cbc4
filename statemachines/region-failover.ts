import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ErrorName } from '../functions/domain/errors';
import type { WorkflowName } from '../functions/domain/workflows';
import { operationStep } from './fragments/operation-step';
import { DEFAULT_TIMING, RAISE, WorkflowBuilder, type WorkflowTiming } from './workflow-builder';

export const REGION_FAILOVER = 'region-failover' satisfies WorkflowName;

/** The functions of the DR stack, which run in the DR region so that a lost primary region cannot stop them. */
export interface RegionOperations {
  readonly drNodes: lambda.IFunction;
  readonly routeDns: lambda.IFunction;
  /** The cluster-lock function over the DR region's own lock table. */
  readonly drLock: lambda.IFunction;
}

/**
 * What each mode is called in the DR lock. A failover pre-empts a drill or a failback (it stops that execution and
 * takes its DR nodes over); a drill or a failback never starts while another execution holds the DR site.
 */
export const DR_LOCK_HOLDERS = {
  failover: REGION_FAILOVER,
  drill: 'region-drill',
  failback: 'region-failback',
} as const;

const cluster = { 'cluster.$': '$.request.cluster' };
/** Alias records answer with a 60-second TTL; twice that lets every resolver move before the DR site goes. */
const DNS_MOVE_SECONDS = 120;
/** What the request's optional fields are when it leaves them out. */
const REQUEST_DEFAULTS = { ignoreVersion: false };

/**
 * region-failover, started with `{ cluster, mode, ignoreVersion? }`. Every mode first takes the DR lock, in the DR
 * region's own lock table (`DR_LOCK_HOLDERS`), and gives it back when it ends:
 *
 * - `failover`: start the cold standby (launch the DR nodes from the DR launch template and AMI, into the DR target
 *   group) → poll until every node runs and passes its checks (and reports the version recorded in the DR region,
 *   unless `ignoreVersion`) and its target is healthy → point the cluster's DNS name at the DR load balancer → report
 *   the RTO, from the start of the execution to the DNS change.
 * - `drill`: the same without the DNS change; the RTO is measured up to the moment the change would have been made,
 *   and the DR nodes are torn down at the end.
 * - `failback`: check that the primary cluster serves again (from its own load balancer), point DNS back at it, and
 *   tear the DR nodes down.
 *
 * A failure before the DNS change (such as `VersionMismatchError`: a DR node runs another version than the one
 * recorded in the DR region) tears down the execution's DR nodes, so a retry starts clean; the DNS change itself is
 * retried on transient errors and, if it still fails, leaves the ready DR site running for the operator.
 */
export function regionFailoverDefinition(
  scope: Construct,
  ops: RegionOperations,
  options: { timing?: WorkflowTiming; leaseSeconds: number },
): sfn.IChainable {
  const raising = new WorkflowBuilder(scope, ops, REGION_FAILOVER, RAISE, options.timing ?? DEFAULT_TIMING).fencedBy({
    lock: ops.drLock,
    leaseSeconds: options.leaseSeconds,
  });
  const step = (label: string, operation: lambda.IFunction, payload: Record<string, unknown>, resultPath: string) =>
    operationStep(scope, label, { operation, payload, resultPath });

  const lockRequest = (action: 'acquire' | 'preempt', holder: string) => ({
    action,
    ...cluster,
    'owner.$': '$$.Execution.Id',
    workflow: holder,
    leaseSeconds: options.leaseSeconds,
  });
  const siteInUse = (mode: string) =>
    new sfn.Fail(scope, `Fail because the DR site is in use: ${mode}`, {
      errorPath: '$.lockError.Error',
      causePath: '$.lockError.Cause',
    });
  /** Takes the DR lock for a drill or a failback: another execution at work on the DR site refuses it. */
  const takeLock = (mode: 'drill' | 'failback') =>
    step(`Take the DR lock: ${mode}`, ops.drLock, lockRequest('acquire', DR_LOCK_HOLDERS[mode]), '$.lock').addCatch(
      siteInUse(mode),
      { errors: [ErrorName.ClusterLocked], resultPath: '$.lockError' },
    );
  /**
   * Gives the DR lock back at the end. A lock that cannot be released is no danger: once this execution has ended,
   * the next one takes it over at once.
   */
  const releaseLock = (mode: string, next: sfn.IChainable) =>
    step(
      `Release the DR lock: ${mode}`,
      ops.drLock,
      { action: 'release', ...cluster, 'owner.$': '$$.Execution.Id' },
      '$.released',
    )
      .addCatch(next, { errors: [sfn.Errors.ALL], resultPath: '$.releaseError' })
      .next(next);

  const readRequest = new sfn.Pass(scope, 'Read the request', {
    parameters: { 'request.$': '$', defaults: REQUEST_DEFAULTS },
  });
  const applyDefaults = new sfn.Pass(scope, 'Apply the request defaults', {
    parameters: { 'request.$': 'States.JsonMerge($.defaults, $.request, false)' },
  });
  /** Ends the execution with the error a step caught into `$.error`. */
  const failWithCaughtError = (name: string) =>
    new sfn.Fail(scope, name, { errorPath: '$.error.Error', causePath: '$.error.Cause' });

  // Failure before the DNS change: remove what this execution started, then fail with the original error.
  const failed = failWithCaughtError('Fail after removing the DR nodes');
  const cleanUp = step(
    'Clean up: tear down the DR nodes',
    ops.drNodes,
    { action: 'teardown', ...cluster, 'execution.$': '$$.Execution.Id' },
    '$.cleanup',
  );
  cleanUp.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.cleanupError' }).next(failed);
  const b = raising.failingTo(cleanUp);

  const launch = b.change(
    'Launch the DR nodes',
    ops.drNodes,
    {
      action: 'launch',
      ...cluster,
      'execution.$': '$$.Execution.Id',
      'exclusive.$': '$.site.exclusive',
    },
    '$.launched',
  );
  const poll = b.step(
    'Check whether the DR site is ready',
    ops.drNodes,
    {
      action: 'status',
      ...cluster,
      'since.$': '$$.Execution.StartTime',
      'ignoreVersion.$': '$.request.ignoreVersion',
    },
    '$.ready',
  );
  const ready = b.pollUntil({
    label: 'the DR site to be ready',
    poll,
    resultPath: '$.ready',
    done: sfn.Condition.booleanEquals('$.ready.ready', true),
    timeoutSeconds: b.timing.readyTimeoutSeconds,
    timeoutError: ErrorName.DrSiteNotReady,
  });

  // DNS steps fail without tearing anything down: during an outage the ready DR site is what the operator needs.
  const leftAsIs = failWithCaughtError('Fail with the DR site left as it is');
  const failAsIs = (task: sfn.TaskStateBase) =>
    task.addCatch(leftAsIs, { errors: [sfn.Errors.ALL], resultPath: '$.error' });

  const pointAtDr = step(
    'Point DNS at the DR region',
    ops.routeDns,
    { action: 'point', ...cluster, to: 'dr', 'since.$': '$$.Execution.StartTime' },
    '$.dns',
  );
  const failoverDone = releaseLock(
    'failover',
    // Passes that end the execution rather than Succeeds: the same output, in a state that validators of the
    // definition (cfn-lint) accept with an OutputPath.
    new sfn.Pass(scope, 'Region failover complete', { outputPath: '$.report' }),
  );
  const reportFailover = new sfn.Pass(scope, 'Report the region failover RTO', {
    parameters: { 'rtoSeconds.$': '$.dns.elapsedSeconds', 'dns.$': '$.dns', 'nodes.$': '$.ready.nodes' },
    resultPath: '$.report',
  });

  const reportDrill = new sfn.Pass(scope, 'Record the drill RTO', {
    parameters: { 'rtoSeconds.$': '$.ready.elapsedSeconds', 'nodes.$': '$.ready.nodes' },
    resultPath: '$.drill',
  });
  const drillDone = releaseLock('drill', new sfn.Pass(scope, 'Drill complete', { outputPath: '$.drill' }));

  const primaryCheck = step(
    'Check the primary region',
    ops.routeDns,
    { action: 'check-primary', ...cluster },
    '$.primary',
  );
  const primaryNotReady = new sfn.Fail(scope, 'Fail because the primary region does not serve', {
    error: ErrorName.PrimaryNotServing,
    cause: 'The primary cluster has no healthy target in a weighted slot; DNS stays on the DR region',
  });
  const pointAtPrimary = step(
    'Point DNS back at the primary region',
    ops.routeDns,
    { action: 'point', ...cluster, to: 'primary', 'since.$': '$$.Execution.StartTime' },
    '$.dns',
  );
  const failbackDone = releaseLock('failback', new sfn.Succeed(scope, 'Failback complete'));
  for (const task of [pointAtDr, primaryCheck, pointAtPrimary]) failAsIs(task);
  // A DNS change is made only while this execution still holds the DR lock.
  const fencedDns = (label: string, task: sfn.TaskStateBase) => sfn.Chain.start(failAsIs(b.hold(label))).next(task);

  const startSite = launch
    .next(ready)
    .next(
      new sfn.Choice(scope, 'Drill or failover?')
        .when(
          sfn.Condition.stringEquals('$.request.mode', 'drill'),
          reportDrill.next(tearDown(b, 'execution', drillDone)),
        )
        .otherwise(fencedDns('Point DNS at the DR region', pointAtDr).next(reportFailover).next(failoverDone)),
    );
  // A drill tears its nodes down at the end, so it must not share the DR site with a real failover.
  // An object, not a bare boolean: the local runner drops a Pass result of `false`.
  const idleSite = takeLock('drill').next(
    new sfn.Pass(scope, 'Ask for an idle DR site', {
      result: sfn.Result.fromObject({ exclusive: true }),
      resultPath: '$.site',
    }).next(startSite),
  );
  // A failover stops a drill or a failback that holds the DR lock and takes its DR nodes over (see launchDrNodes).
  const alreadyOnIt = new sfn.Succeed(scope, 'Another region failover is already on it');
  const shareSite = step(
    'Take over the DR lock',
    ops.drLock,
    lockRequest('preempt', DR_LOCK_HOLDERS.failover),
    '$.lock',
  )
    .addCatch(alreadyOnIt, { errors: [ErrorName.ClusterLocked], resultPath: '$.lockError' })
    .next(
      new sfn.Pass(scope, 'Use the DR nodes already running', {
        result: sfn.Result.fromObject({ exclusive: false }),
        resultPath: '$.site',
      }).next(startSite),
    );

  return sfn.Chain.start(readRequest)
    .next(applyDefaults)
    .next(
      new sfn.Choice(scope, 'Which mode?')
        // Checked before anything is touched, like the mode: a bad value must not reach the status poll.
        .when(
          sfn.Condition.not(sfn.Condition.isBoolean('$.request.ignoreVersion')),
          new sfn.Fail(scope, 'Fail because ignoreVersion is not true or false', {
            error: ErrorName.InputValidation,
            cause: 'ignoreVersion must be true or false',
          }),
        )
        .when(
          sfn.Condition.stringEquals('$.request.mode', 'failback'),
          takeLock('failback')
            .next(primaryCheck)
            .next(
              new sfn.Choice(scope, 'Does the primary region serve?')
                .when(
                  sfn.Condition.booleanEquals('$.primary.serving', true),
                  fencedDns('Point DNS back at the primary region', pointAtPrimary)
                    .next(
                      // Resolvers keep the DR answer for the record's TTL; the DR site serves them until it runs out.
                      new sfn.Wait(scope, 'Let resolvers move back to the primary region', {
                        time: sfn.WaitTime.duration(Duration.seconds(DNS_MOVE_SECONDS)),
                      }),
                    )
                    .next(tearDown(b, 'all', failbackDone)),
                )
                .otherwise(primaryNotReady),
            ),
        )
        .when(sfn.Condition.stringEquals('$.request.mode', 'failover'), shareSite)
        .when(sfn.Condition.stringEquals('$.request.mode', 'drill'), idleSite)
        .otherwise(
          new sfn.Fail(scope, 'Fail because the mode is unknown', {
            error: ErrorName.InputValidation,
            cause: 'mode must be "failover", "drill" or "failback"',
          }),
        ),
    );
}

/** Deregisters and terminates DR nodes until none is left running (the execution's, or every one of the cluster). */
function tearDown(b: WorkflowBuilder<RegionOperations>, scopeOf: 'execution' | 'all', next: sfn.IChainable): sfn.Chain {
  const label = scopeOf === 'all' ? 'every DR node' : 'the drill nodes';
  const teardown = b.change(
    `Tear down ${label}`,
    b.ops.drNodes,
    { action: 'teardown', ...cluster, ...(scopeOf === 'execution' ? { 'execution.$': '$$.Execution.Id' } : {}) },
    '$.teardown',
  );
  return b
    .pollUntil({
      label: `${label} to be gone`,
      poll: teardown,
      resultPath: '$.teardown',
      done: sfn.Condition.booleanEquals('$.teardown.gone', true),
      timeoutSeconds: b.timing.readyTimeoutSeconds,
      timeoutError: ErrorName.DrNodesNotRetired,
    })
    .next(next);
}
