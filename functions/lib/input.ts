import * as z from 'zod';
import { clusterNameSchema, toFieldIssues } from './cluster-model';
import { InputValidationError } from './errors';

/** Validates a handler's input before anything is touched; the error names every bad field. */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  event: unknown,
  operation: string,
): z.output<Schema> {
  const result = schema.safeParse(event, { reportInput: true });
  if (!result.success) {
    throw new InputValidationError(`Invalid input for ${operation}`, toFieldIssues(result.error), {
      cause: result.error,
    });
  }
  return result.data;
}

export const instanceIdInput = z.string().regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id (i-...)');
export const executionArnInput = z
  .string()
  .regex(
    /^arn:aws(?:-[a-z]+)*:states:[a-z0-9-]+:\d{12}:execution:[\w.-]+:[\w.-]+$/,
    'must be a Step Functions execution ARN',
  );
/** Every operation names the cluster it acts on. */
export const clusterInput = { cluster: clusterNameSchema };

/** A check of one node, optionally against the version the workflow rolls out. */
export const nodeCheckInput = z.strictObject({
  ...clusterInput,
  instanceId: instanceIdInput,
  /** null when the workflow rolls out no particular version. */
  expectedVersion: z
    .string()
    .min(1)
    .max(128)
    .nullish()
    .transform((version) => version ?? undefined),
});

export const alarmNameInput = z.string().regex(/^[\w .:/#+=@,()-]{1,255}$/, 'must be a CloudWatch alarm name');
