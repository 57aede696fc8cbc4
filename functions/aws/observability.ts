import { Logger } from '@aws-lambda-powertools/logger';
import { ErrorName } from '../domain/errors';
import { CALLER_EXECUTION_KEY } from '../domain/input';
import { POWERTOOLS_SERVICE } from '../domain/metric-names';

/**
 * Whether the code runs inside Lambda. The sandbox and the tests call the handlers in process, where log and metric
 * lines would be noise on the operator's terminal, so both are written only inside Lambda.
 */
export function insideLambda(): boolean {
  return Boolean(process.env.AWS_LAMBDA_FUNCTION_NAME);
}

/**
 * The functions' structured logger: one JSON object per line, with the service, the function, the request, and the
 * keys each invocation appends. Its level follows the function's log level setting.
 */
export const logger = new Logger({
  serviceName: POWERTOOLS_SERVICE,
  ...(insideLambda() ? {} : { logLevel: 'SILENT' }),
});

type LambdaContext = Parameters<Logger['addContext']>[0];

/** An execution ARN: what every workflow step passes as its caller, and some as `execution` or the lock's `owner`. */
const EXECUTION_ARN = /^arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:/;

/**
 * The keys that tie a log line to its cluster and to the Step Functions execution that called, so an operator can
 * follow one run across every function with one query.
 */
export function correlationKeys(event: unknown): { cluster?: string; execution?: string } {
  if (typeof event !== 'object' || event === null) return {};
  const fields = event as Record<string, unknown>;
  const keys: { cluster?: string; execution?: string } = {};
  if (typeof fields.cluster === 'string') keys.cluster = fields.cluster;
  const execution = [fields[CALLER_EXECUTION_KEY], fields.execution, fields.owner].find(
    (value): value is string => typeof value === 'string' && EXECUTION_ARN.test(value),
  );
  if (execution !== undefined) keys.execution = execution;
  return keys;
}

/**
 * A Lambda handler that logs each invocation: the event at debug level, then one line with the outcome and the time
 * it took. A zerodown error is a workflow outcome the state machine catches by name, so it is a warning; anything
 * else is a fault of the function and an error. The error is rethrown unchanged either way.
 */
export function observedHandler<Result>(operation: string, handle: (event: unknown) => Promise<Result>) {
  return async (event: unknown, context?: LambdaContext): Promise<Result> => {
    logger.resetKeys();
    if (context) logger.addContext(context);
    logger.appendKeys({ operation, ...correlationKeys(event) });
    logger.debug('Invoked', { event });
    const started = performance.now();
    try {
      const result = await handle(event);
      logger.info('Succeeded', { durationMs: elapsedMs(started) });
      logger.debug('Result', { result });
      return result;
    } catch (error) {
      const fields = { durationMs: elapsedMs(started), error };
      if (isWorkflowError(error)) logger.warn(`Failed with ${error.name}`, fields);
      else logger.error('Failed', fields);
      throw error;
    }
  };
}

const WORKFLOW_ERROR_NAMES: ReadonlySet<string> = new Set(Object.values(ErrorName));

/** An error the state machines catch by name: by its name, which survives where a class identity may not. */
function isWorkflowError(error: unknown): error is Error {
  return error instanceof Error && WORKFLOW_ERROR_NAMES.has(error.name);
}

function elapsedMs(started: number): number {
  return Math.round(performance.now() - started);
}
