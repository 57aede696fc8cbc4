/**
 * Named errors. In a state machine the error name is part of the API: the ASL catches `CapacityGuardError`
 * by name before any `States.ALL`. Names are string literals, not `constructor.name`, because the Lambda
 * bundles are minified and class names would not survive.
 */
export abstract class ZeroDownError extends Error {
  abstract override readonly name: string;
}

export interface FieldIssue {
  /** Dotted path of the offending field, such as `traffic.listenerArn` or `nodes[1].role`. */
  readonly path: string;
  readonly message: string;
}

/** A cluster model (or workflow input) that does not validate. Every issue names its field. */
export class ClusterModelError extends ZeroDownError {
  override readonly name = 'ClusterModelError';
  readonly issues: readonly FieldIssue[];

  constructor(subject: string, issues: readonly FieldIssue[], options?: ErrorOptions) {
    super(
      `${subject}: ${issues.map((issue) => (issue.path ? `${issue.path} ${issue.message}` : issue.message)).join('; ')}`,
      options,
    );
    this.issues = issues;
  }
}

/** No cluster model is stored under the name a workflow was started with. */
export class ClusterNotFoundError extends ZeroDownError {
  override readonly name = 'ClusterNotFoundError';

  constructor(
    readonly clusterName: string,
    readonly parameterName: string,
    options?: ErrorOptions,
  ) {
    super(`No cluster named "${clusterName}": SSM parameter ${parameterName} does not exist`, options);
  }
}

/** A required environment variable is missing at cold start. */
export class ConfigurationError extends ZeroDownError {
  override readonly name = 'ConfigurationError';
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`Environment variable ${name} is not set`);
  }
  return value;
}
