import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { CALLER_EXECUTION_KEY } from '../../functions/domain/input';
import { LONGEST_OPERATION_SECONDS, TASK_TIMEOUT_HEADROOM_SECONDS } from '../../functions/domain/workflows';

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
}

/**
 * Errors of the Lambda integration and of the task itself that are safe to retry for an idempotent operation: Lambda
 * throttled the invocation (it never ran), or the task outlived its timeout. The task timeout is longer than the
 * function's own, so by then the first invocation has ended and a retry cannot run beside it.
 */
export const RETRIED_INVOCATION_ERRORS = ['Lambda.TooManyRequestsException', sfn.Errors.TIMEOUT] as const;

/** Errors of the Lambda service itself, which the Lambda integration's own retrier would retry. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
] as const;

/** Attempts after the first, for every retried error: Lambda's, the control planes', throttling and task timeouts. */
export const OPERATION_RETRIES = 4;

/** The function's timeout, or the longest any node operation may have when the function is imported. */
export function functionTimeoutSeconds(operation: lambda.IFunction): number {
  return operation instanceof lambda.Function && operation.timeout
    ? operation.timeout.toSeconds()
    : LONGEST_OPERATION_SECONDS;
}

/**
 * A Lambda node operation as a Task: the handler's result is the task result (no Lambda envelope), the step's timeout
 * outlasts the function's own (so a task never gives up on an invocation that is still running), and Lambda service
 * errors, transient AWS errors, throttled invocations and task timeouts are retried with backoff (the ASL default of
 * 2) and full jitter. The payload also names the calling execution (`CALLER_EXECUTION_KEY`).
 */
export function operationStep(scope: Construct, stateName: string, props: OperationStepProps): tasks.LambdaInvoke {
  const step = new tasks.LambdaInvoke(scope, stateName, {
    lambdaFunction: props.operation,
    // The calling execution goes with every invocation, so each function's logs carry it as a key.
    payload: sfn.TaskInput.fromObject({ ...props.payload, [`${CALLER_EXECUTION_KEY}.$`]: '$$.Execution.Id' }),
    payloadResponseOnly: true,
    resultPath: props.resultPath,
    taskTimeout: sfn.Timeout.duration(
      Duration.seconds(functionTimeoutSeconds(props.operation) + TASK_TIMEOUT_HEADROOM_SECONDS),
    ),
    // One retrier for everything worth retrying rather than the integration's own and two of ours: each task's Retry
    // is repeated in the template, and a cluster's template must stay under CloudFormation's 1 MB.
    retryOnServiceExceptions: false,
  });
  step.addRetry({
    errors: [...LAMBDA_SERVICE_ERRORS, ...TRANSIENT_AWS_ERRORS, ...RETRIED_INVOCATION_ERRORS],
    maxAttempts: OPERATION_RETRIES,
    interval: Duration.seconds(2),
    jitterStrategy: sfn.JitterType.FULL,
  });
  return step;
}
