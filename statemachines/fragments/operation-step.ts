import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/**
 * Errors an AWS control plane raises under load, which reach the state machine only after the SDK's own retries are
 * spent. Retrying them later is safe because every node operation is idempotent. Bugs and named domain errors
 * (CapacityGuardError, HealthCheckFailedError, ...) are never retried here.
 */
export const TRANSIENT_AWS_ERRORS = [
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalError',
] as const;

export interface OperationStepProps {
  readonly operation: lambda.IFunction;
  /** The operation's input; `.$` keys take values from the state input, as in any JSONPath Parameters. */
  readonly payload: Record<string, unknown>;
  /** Where the operation's result goes in the state, such as `$.snapshot`. */
  readonly resultPath: string;
  /** @default Duration.seconds(60) */
  readonly timeout?: Duration;
}

/**
 * A Lambda node operation as a Task: the handler's result is the task result (no Lambda envelope), the step has a
 * timeout, and transient AWS errors are retried with backoff and jitter. Lambda service errors are retried by the
 * integration itself.
 */
export function operationStep(scope: Construct, stateName: string, props: OperationStepProps): tasks.LambdaInvoke {
  const step = new tasks.LambdaInvoke(scope, stateName, {
    lambdaFunction: props.operation,
    payload: sfn.TaskInput.fromObject(props.payload),
    payloadResponseOnly: true,
    resultPath: props.resultPath,
    taskTimeout: sfn.Timeout.duration(props.timeout ?? Duration.seconds(60)),
    retryOnServiceExceptions: true,
  });
  step.addRetry({
    errors: [...TRANSIENT_AWS_ERRORS],
    maxAttempts: 3,
    interval: Duration.seconds(2),
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
  return step;
}
