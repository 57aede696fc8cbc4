import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { ErrorName } from '../functions/domain/errors';
import { operationStep } from './fragments/operation-step';

/** The Lambda functions the workflows call. */
export interface WorkflowOperations {
  readonly planWorkflow: lambda.IFunction;
  readonly clusterLock: lambda.IFunction;
  readonly snapshotCluster: lambda.IFunction;
  readonly launchSurgeNode: lambda.IFunction;
  readonly checkNodeReady: lambda.IFunction;
  readonly runCommand: lambda.IFunction;
  readonly verifyNode: lambda.IFunction;
  readonly shiftTraffic: lambda.IFunction;
  readonly retireNode: lambda.IFunction;
  readonly notify: lambda.IFunction;
  readonly checkAlarms: lambda.IFunction;
  readonly exposeService: lambda.IFunction;
  readonly confirmNodeLoss: lambda.IFunction;
  readonly adoptReplacement: lambda.IFunction;
  /** Only where the cluster names a database: upgrade-version snapshots it before migrating. */
  readonly snapshotDatabase?: lambda.IFunction;
  /** Only where the cluster bakes images: patch-server and upgrade-version bake one when they succeed. */
  readonly bakeImage?: lambda.IFunction;
}

export interface WorkflowTiming {
  /** Between two polls of a node coming up or a command running. */
  readonly pollIntervalSeconds: number;
  /** How long a node may take to become ready (boot, restart, warm-up). */
  readonly readyTimeoutSeconds: number;
}

export const DEFAULT_TIMING: WorkflowTiming = {
  pollIntervalSeconds: 10,
  readyTimeoutSeconds: 900,
};

/**
 * The lock's fence: before a step changes the cluster, the workflow renews its lease with a conditional write that
 * holds only while this execution still owns the lock, and writes what its recovery would need at that point. A
 * step of an execution that lost the lock (pre-empted, or taken over after it was given up for dead) fails there
 * with `LockLostError` and touches nothing.
 */
export interface Fence {
  /** The function that holds the lock: the cluster's, or the DR region's. */
  readonly lock: lambda.IFunction;
  readonly leaseSeconds: number;
  /** What recovery needs, as a Parameters object read from the state; written with every renewal. */
  readonly record?: Record<string, unknown>;
}

/** What every workflow definition is built with. */
export interface DefinitionOptions {
  readonly timing?: WorkflowTiming;
  /** The state machine's execution timeout: plans must fit inside it. */
  readonly executionTimeoutSeconds: number;
  readonly leaseSeconds: number;
}

/**
 * Where a step's failure goes: out of the execution (`raise`, before anything is touched), or into a rollback path
 * (once the lock is held), with `$.error` and `$.failedStep` set.
 */
export type FailureRoute = { readonly kind: 'rollback'; readonly target: sfn.IChainable } | { readonly kind: 'raise' };

export const RAISE: FailureRoute = { kind: 'raise' };

/**
 * Builds workflow states from the node operations. Every step catches every error into the builder's failure route
 * and records which step failed, and every loop is bounded by an attempt or item count. The route is fixed when the
 * builder is made: a builder for the steps under the lock comes from `failingTo`, so no step can be built without
 * the route it needs.
 */
export class WorkflowBuilder<Ops extends object = WorkflowOperations> {
  constructor(
    readonly scope: Construct,
    readonly ops: Ops,
    readonly workflow: string,
    readonly route: FailureRoute,
    readonly timing: WorkflowTiming = DEFAULT_TIMING,
    readonly fence?: Fence,
  ) {}

  /**
   * The builder a cluster workflow starts from: its steps raise until it routes them elsewhere, and every change
   * passes the cluster lock's fence, writing `record` (see `Fence`) when given.
   */
  static underClusterLock(
    scope: Construct,
    ops: WorkflowOperations,
    workflow: string,
    options: Pick<DefinitionOptions, 'timing' | 'leaseSeconds'> & { record?: Record<string, unknown> },
  ): WorkflowBuilder {
    return new WorkflowBuilder(scope, ops, workflow, RAISE, options.timing ?? DEFAULT_TIMING, {
      lock: ops.clusterLock,
      leaseSeconds: options.leaseSeconds,
      ...(options.record ? { record: options.record } : {}),
    });
  }

  /** A builder for the same workflow whose steps fail into `target`. */
  failingTo(target: sfn.IChainable): WorkflowBuilder<Ops> {
    return new WorkflowBuilder(
      this.scope,
      this.ops,
      this.workflow,
      { kind: 'rollback', target },
      this.timing,
      this.fence,
    );
  }

  /** A builder for the same workflow whose changing steps pass `fence` first. */
  fencedBy(fence: Fence): WorkflowBuilder<Ops> {
    return new WorkflowBuilder(this.scope, this.ops, this.workflow, this.route, this.timing, fence);
  }

  /** A node operation that changes the cluster: the fence, then the step. */
  change(label: string, operation: lambda.IFunction, payload: Record<string, unknown>, resultPath: string): sfn.Chain {
    return this.fenced(label, this.step(label, operation, payload, resultPath));
  }

  /**
   * `state` behind the fence of the step `label`, the fence failing into the builder's route. `stateName` names the
   * fence when `Hold the lock: <label>` would pass the 80 characters a state name may have.
   */
  fenced(label: string, state: sfn.IChainable, options: { stateName?: string } = {}): sfn.Chain {
    const hold = this.hold(label, options);
    this.catchInto(hold, options.stateName ?? `Hold the lock: ${label}`);
    return sfn.Chain.start(hold).next(state);
  }

  /**
   * The fence of the step `label`, uncaught: see `fenced`, and `behindCarryOnFence` for fences that carry on. A fence
   * on a way out (rollback, recovery) renews without a record: what recovery needs was written on the way in.
   */
  hold(label: string, options: { record?: boolean; stateName?: string } = {}): sfn.TaskStateBase {
    const fence = this.fence;
    if (!fence) throw new Error(`"${label}" changes the cluster, so its workflow must be built with the lock's fence`);
    return operationStep(this.scope, options.stateName ?? `Hold the lock: ${label}`, {
      operation: fence.lock,
      payload: {
        action: 'renew',
        'cluster.$': '$.request.cluster',
        'owner.$': '$$.Execution.Id',
        workflow: this.workflow,
        leaseSeconds: fence.leaseSeconds,
        ...(fence.record && options.record !== false ? { recovery: fence.record } : {}),
      },
      resultPath: sfn.JsonPath.DISCARD,
    });
  }

  /** A node operation as one named step. */
  step(
    label: string,
    operation: lambda.IFunction,
    payload: Record<string, unknown>,
    resultPath: string,
  ): sfn.TaskStateBase {
    const task = operationStep(this.scope, label, { operation, payload, resultPath });
    this.catchInto(task, label);
    return task;
  }

  /** Sends a failure of `state` to the current route, noting the step's name. */
  catchInto(state: sfn.TaskStateBase, label: string): void {
    const note = this.failedStep(label);
    if (note) state.addCatch(note, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
  }

  /**
   * The way into the current route for a failure of the step `label` (caught into `$.error`): it notes the step's
   * name. Undefined when the route raises. Made once per label.
   */
  failedStep(label: string): sfn.IChainable | undefined {
    if (this.route.kind === 'raise') return undefined;
    return new sfn.Pass(this.scope, `Failed: ${label}`, {
      result: sfn.Result.fromObject({ step: label }),
      resultPath: '$.failedStep',
    }).next(this.route.target);
  }

  /** Fails the current route with a named error, for loops that ran out of attempts. */
  failure(label: string, error: ErrorName, cause: string): sfn.IChainable {
    if (this.route.kind === 'raise')
      return new sfn.Fail(this.scope, `Fail because ${label} took too long`, { error, cause });
    const recordError = new sfn.Pass(this.scope, `Timed out: ${label}`, {
      result: sfn.Result.fromObject({ Error: error, Cause: cause }),
      resultPath: '$.error',
    });
    const recordStep = new sfn.Pass(this.scope, `Record the timeout: ${label}`, {
      result: sfn.Result.fromObject({ step: label }),
      resultPath: '$.failedStep',
    });
    return recordError.next(recordStep).next(this.route.target);
  }

  /**
   * Runs `body` once for each item of the array at `itemsPath`, one after the other, with the item at `itemPath`.
   * A counted loop rather than a Map: a step that fails stops the loop on the spot and goes to the rollback path
   * like any other step, naming itself as the failed step.
   */
  forEachInOrder(options: {
    label: string;
    itemsPath: string;
    /** Where the current item goes, such as `$.stage`. */
    itemPath: string;
    /** Where the loop keeps its count, such as `$.stageLoop`. Unique per loop. */
    loopPath: string;
    body: sfn.IChainable & sfn.INextable;
    bodyEnd: sfn.INextable;
  }): sfn.Chain {
    const { label, loopPath } = options;
    const start = new sfn.Pass(this.scope, `Start: ${label}`, {
      parameters: { count: 0, 'total.$': `States.ArrayLength(${options.itemsPath})` },
      resultPath: loopPath,
    });
    const take = new sfn.Pass(this.scope, `Take the next item: ${label}`, {
      parameters: { 'value.$': `States.ArrayGetItem(${options.itemsPath}, ${loopPath}.count)` },
      resultPath: `${options.itemPath}Holder`,
    });
    const unwrap = new sfn.Pass(this.scope, `Unwrap the item: ${label}`, {
      inputPath: `${options.itemPath}Holder.value`,
      resultPath: options.itemPath,
    });
    const advance = new sfn.Pass(this.scope, `Count the item: ${label}`, {
      parameters: { 'count.$': `States.MathAdd(${loopPath}.count, 1)`, 'total.$': `${loopPath}.total` },
      resultPath: loopPath,
    });
    const finished = new sfn.Pass(this.scope, `Finished: ${label}`);
    const anyLeft = new sfn.Choice(this.scope, `Any left: ${label}?`)
      .when(sfn.Condition.numberLessThanJsonPath(`${loopPath}.count`, `${loopPath}.total`), take)
      .otherwise(finished);
    start.next(anyLeft);
    take.next(unwrap).next(options.body);
    options.bodyEnd.next(advance);
    advance.next(anyLeft);
    return sfn.Chain.custom(start, [finished], finished);
  }

  /**
   * Repeats `poll` every poll interval until `done` holds on its result, at most `timeoutSeconds` long (or as many
   * polls as `maxAttemptsPath` reads from the state); then fails with `timeoutError`. The attempt count is the loop's
   * bound.
   */
  pollUntil(
    options: {
      label: string;
      poll: sfn.IChainable & sfn.INextable;
      resultPath: string;
      done: sfn.Condition;
      timeoutError: ErrorName;
    } & (
      | { readonly timeoutSeconds: number }
      /** A bound read from the state: polls allowed, and what the timeout is called in the error. */
      | { readonly maxAttemptsPath: string; readonly timeoutDescription: string }
    ),
  ): sfn.Chain {
    const { label } = options;
    const counter = `${options.resultPath}Attempts`;
    const limit =
      'maxAttemptsPath' in options
        ? {
            reached: sfn.Condition.numberGreaterThanEqualsJsonPath(`${counter}.count`, options.maxAttemptsPath),
            after: options.timeoutDescription,
          }
        : {
            reached: sfn.Condition.numberGreaterThanEquals(
              `${counter}.count`,
              Math.max(1, Math.ceil(options.timeoutSeconds / this.timing.pollIntervalSeconds)),
            ),
            after: `${options.timeoutSeconds} s`,
          };
    const start = new sfn.Pass(this.scope, `Start counting polls: ${label}`, {
      parameters: { count: 0 },
      resultPath: counter,
    });
    const count = new sfn.Pass(this.scope, `Count the poll: ${label}`, {
      parameters: { 'count.$': `States.MathAdd(${counter}.count, 1)` },
      resultPath: counter,
    });
    const wait = new sfn.Wait(this.scope, `Wait before polling again: ${label}`, {
      time: sfn.WaitTime.duration(Duration.seconds(this.timing.pollIntervalSeconds)),
    });
    const finished = new sfn.Pass(this.scope, `Done polling: ${label}`);
    const check = new sfn.Choice(this.scope, `Is it done: ${label}?`)
      .when(options.done, finished)
      .when(limit.reached, this.failure(label, options.timeoutError, `${label}: not done after ${limit.after}`))
      .otherwise(wait);
    start.next(options.poll);
    wait.next(count).next(options.poll);
    options.poll.next(check);
    // The loop's only way on is `finished`; what follows the chain attaches there.
    return sfn.Chain.custom(start, [finished], finished);
  }
}
