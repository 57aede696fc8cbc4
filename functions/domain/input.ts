import * as z from 'zod/mini';
import { InputValidationError } from './errors';
import { clusterNameSchema, FIELD_ISSUE_PARSING, toFieldIssues } from './field-issues';

/**
 * The key under which every workflow step tells its function which execution called it (`$$.Execution.Id`). It is
 * for the logs only: `parseInput` sets it aside before validation, so no operation's input schema carries it and no
 * operation can act on it.
 */
export const CALLER_EXECUTION_KEY = 'callerExecution';

/** Validates a handler's input before anything is touched; the error names every bad field. */
export function parseInput<Schema extends z.ZodMiniType>(
  schema: Schema,
  event: unknown,
  operation: string,
): z.output<Schema> {
  const result = schema.safeParse(withoutCallerExecution(event), FIELD_ISSUE_PARSING);
  if (!result.success) {
    throw new InputValidationError(`Invalid input for ${operation}`, toFieldIssues(result.error), {
      cause: result.error,
    });
  }
  return result.data;
}

function withoutCallerExecution(event: unknown): unknown {
  if (typeof event !== 'object' || event === null || !(CALLER_EXECUTION_KEY in event)) return event;
  const { [CALLER_EXECUTION_KEY]: _caller, ...rest } = event as Record<string, unknown>;
  return rest;
}

export const instanceIdInput = z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id (i-...)'));
export const executionArnInput = z
  .string()
  .check(
    z.regex(
      /^arn:aws(?:-[a-z]+)*:states:[a-z0-9-]+:\d{12}:execution:[\w.-]+:[\w.-]+$/,
      'must be a Step Functions execution ARN',
    ),
  );
/** Every operation names the cluster it acts on. */
export const clusterInput = { cluster: clusterNameSchema };

/**
 * The recover workflow's own input: the execution that ended, when a status rule started it; only the cluster when an
 * operator does.
 */
export const recoverRequestSchema = z.strictObject({
  ...clusterInput,
  execution: z.optional(executionArnInput),
  status: z.optional(z.enum(['ABORTED', 'TIMED_OUT', 'FAILED'])),
});

/** A check of one node, optionally against the version the workflow rolls out. */
export const nodeCheckInput = z.strictObject({
  ...clusterInput,
  instanceId: instanceIdInput,
  /** null when the workflow rolls out no particular version. */
  expectedVersion: z.pipe(
    z.nullish(z.string().check(z.minLength(1), z.maxLength(128))),
    z.transform((version) => version ?? undefined),
  ),
});

export const alarmNameInput = z.string().check(z.regex(/^[\w .:/#+=@,()-]{1,255}$/, 'must be a CloudWatch alarm name'));
