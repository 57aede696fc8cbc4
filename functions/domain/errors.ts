/**
 * Named errors. In a state machine the error name is part of the API: the ASL catches `CapacityGuardError`
 * by name before any `States.ALL`. Names are constants, not `constructor.name`, because the Lambda bundles are
 * minified and class names would not survive.
 */
/**
 * Every error name a workflow can end with: the names the Lambdas throw (each class below takes its name from here)
 * and the names the state machines raise themselves (a loop that ran out of attempts, a Fail state). The state
 * machines catch and raise by these constants, and each class's name must be one of them (`satisfies ErrorName`),
 * so a rename that misses either side does not compile. The classes spell the literal rather than read the object,
 * which keeps this table out of the Lambda bundles. `States.*` names are Step Functions' own (`sfn.Errors`).
 */
export const ErrorName = {
  ClusterModel: 'ClusterModelError',
  ClusterNotFound: 'ClusterNotFoundError',
  Configuration: 'ConfigurationError',
  InputValidation: 'InputValidationError',
  ClusterLocked: 'ClusterLockedError',
  LockLost: 'LockLostError',
  CommandFailed: 'CommandFailedError',
  CommandTimedOut: 'CommandTimedOutError',
  HealthCheckFailed: 'HealthCheckFailedError',
  VersionMismatch: 'VersionMismatchError',
  CapacityGuard: 'CapacityGuardError',
  TrafficShift: 'TrafficShiftError',
  NotASurgeNode: 'NotASurgeNodeError',
  NodeLost: 'NodeLostError',
  AlarmTriggered: 'AlarmTriggeredError',
  ExposeConflict: 'ExposeConflictError',
  DrSiteInUse: 'DrSiteInUseError',
  PlanTooLong: 'PlanTooLongError',
  DatabaseSnapshotFailed: 'DatabaseSnapshotFailedError',
  ImageBakeFailed: 'ImageBakeFailedError',
  // Raised by the state machines, not by a Lambda.
  NodeNotReady: 'NodeNotReadyError',
  NodeNotRetired: 'NodeNotRetiredError',
  FileSyncTimeout: 'FileSyncTimeoutError',
  DrSiteNotReady: 'DrSiteNotReadyError',
  DatabaseSnapshotTimedOut: 'DatabaseSnapshotTimedOutError',
  ImageBakeTimedOut: 'ImageBakeTimedOutError',
  DrNodesNotRetired: 'DrNodesNotRetiredError',
  PrimaryNotServing: 'PrimaryNotServingError',
  // The error a failover stops a pre-empted maintenance execution with.
  PreemptedByFailover: 'PreemptedByFailoverError',
} as const;
export type ErrorName = (typeof ErrorName)[keyof typeof ErrorName];

export abstract class ZeroDownError extends Error {
  abstract override readonly name: string;
}

export interface FieldIssue {
  /** Dotted path of the offending field, such as `traffic.listenerArn` or `nodes[1].role`. */
  readonly path: string;
  readonly message: string;
}

/** A document that does not validate. Every issue names its field. */
abstract class InvalidFieldsError extends ZeroDownError {
  readonly issues: readonly FieldIssue[];

  constructor(subject: string, issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(
      `${subject}: ${issues.map((issue) => (issue.path ? `${issue.path} ${issue.message}` : issue.message)).join('; ')}`,
      options,
    );
    this.issues = issues;
  }
}

/** A cluster model that does not validate. */
export class ClusterModelError extends InvalidFieldsError {
  override readonly name = 'ClusterModelError' satisfies ErrorName;
}

/** No cluster model is stored under the name a workflow was started with. */
export class ClusterNotFoundError extends ZeroDownError {
  override readonly name = 'ClusterNotFoundError' satisfies ErrorName;

  constructor(
    readonly clusterName: string,
    readonly parameterName: string,
    options?: ErrorOptions,
  ) {
    super(`No cluster named "${clusterName}": SSM parameter ${parameterName} does not exist`, options);
  }
}

/** The deployment does not fit the request: a missing environment variable, or a cluster set up for another strategy. */
export class ConfigurationError extends ZeroDownError {
  override readonly name = 'ConfigurationError' satisfies ErrorName;
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`Environment variable ${name} is not set`);
  }
  return value;
}

/** A handler's input does not validate. Raised before anything is touched. */
export class InputValidationError extends InvalidFieldsError {
  override readonly name = 'InputValidationError' satisfies ErrorName;
}

/** A plan whose worst case runs past its state machine's execution timeout, which would cut it off mid-way. */
export class PlanTooLongError extends ZeroDownError {
  override readonly name = 'PlanTooLongError' satisfies ErrorName;
}

/** Another workflow holds the cluster lock. */
export class ClusterLockedError extends ZeroDownError {
  override readonly name = 'ClusterLockedError' satisfies ErrorName;

  constructor(
    readonly clusterName: string,
    readonly holder: { readonly owner: string; readonly workflow: string; readonly expiresAt: string },
    options?: ErrorOptions,
  ) {
    super(
      `Cluster "${clusterName}" is locked by ${holder.workflow} execution ${holder.owner} until ${holder.expiresAt}`,
      options,
    );
  }
}

/** The caller no longer holds the lease it tried to renew: another workflow took it over. */
export class LockLostError extends ZeroDownError {
  override readonly name = 'LockLostError' satisfies ErrorName;
}

/** An SSM command failed on a node. The message carries the tail of its output. */
export class CommandFailedError extends ZeroDownError {
  override readonly name = 'CommandFailedError' satisfies ErrorName;
}

/** An SSM command did not finish within its timeout. */
export class CommandTimedOutError extends ZeroDownError {
  override readonly name = 'CommandTimedOutError' satisfies ErrorName;
}

/** A node failed one of the cluster's health checks. The message names the check. */
export class HealthCheckFailedError extends ZeroDownError {
  override readonly name = 'HealthCheckFailedError' satisfies ErrorName;
}

/** A changed node does not report the version the request named, so it must not take traffic. */
export class VersionMismatchError extends ZeroDownError {
  override readonly name = 'VersionMismatchError' satisfies ErrorName;
}

/** Removing traffic would leave too little healthy serving capacity. */
export class CapacityGuardError extends ZeroDownError {
  override readonly name = 'CapacityGuardError' satisfies ErrorName;
}

/** The listener did not read back the weights that were written. */
export class TrafficShiftError extends ZeroDownError {
  override readonly name = 'TrafficShiftError' satisfies ErrorName;
}

/** A retire request named an instance that is not a surge node of this cluster. */
export class NotASurgeNodeError extends ZeroDownError {
  override readonly name = 'NotASurgeNodeError' satisfies ErrorName;
}

/** A node a workflow depends on has gone (terminated or not found). */
export class NodeLostError extends ZeroDownError {
  override readonly name = 'NodeLostError' satisfies ErrorName;
}

/** A CloudWatch alarm named by the workflow was in ALARM after a traffic step (or does not exist). */
export class AlarmTriggeredError extends ZeroDownError {
  override readonly name = 'AlarmTriggeredError' satisfies ErrorName;
}

/** The load balancer rule that would expose a service conflicts with a rule already there. */
export class ExposeConflictError extends ZeroDownError {
  override readonly name = 'ExposeConflictError' satisfies ErrorName;
}

/** A drill found the DR site already running nodes of another execution (a real region failover, perhaps). */
export class DrSiteInUseError extends ZeroDownError {
  override readonly name = 'DrSiteInUseError' satisfies ErrorName;
}

/** The database snapshot taken before a migration failed, or the model names no database to snapshot. */
export class DatabaseSnapshotFailedError extends ZeroDownError {
  override readonly name = 'DatabaseSnapshotFailedError' satisfies ErrorName;
}

/**
 * Baking an image went wrong: the image or its copy in the DR region failed, or the request named a node, an image or
 * a copy that is not the cluster's to bake or publish. The parameters still name the image they named before.
 */
export class ImageBakeFailedError extends ZeroDownError {
  override readonly name = 'ImageBakeFailedError' satisfies ErrorName;
}
