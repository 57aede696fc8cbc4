import * as z from 'zod/mini';
import { correlationKeys, observedHandler } from '../../functions/aws/observability';
import { CapacityGuardError, InputValidationError } from '../../functions/domain/errors';
import { parseInput } from '../../functions/domain/input';

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:zerodown-apim-prod-patch-server:run-1';
const CONTEXT = {
  functionName: 'zerodown-apim-prod-shift-traffic',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:zerodown-apim-prod-shift-traffic',
  memoryLimitInMB: '256',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/zerodown-apim-prod-shift-traffic',
  logStreamName: '2026/11/30/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 30_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
};

/** Loads the observability module afresh inside a Lambda-like environment and returns the lines the logger wrote. */
async function logsInLambda(
  run: (module: typeof import('../../functions/aws/observability')) => Promise<void>,
): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
  process.env.AWS_LAMBDA_FUNCTION_NAME = CONTEXT.functionName;
  try {
    let module: typeof import('../../functions/aws/observability') | undefined;
    jest.isolateModules(() => {
      module = require('../../functions/aws/observability');
    });
    if (!module) throw new Error('the module did not load');
    await run(module);
  } finally {
    if (saved === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    else process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return lines.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line));
}

describe('structured logs of every function', () => {
  it('logs each invocation with its cluster, execution, function and request as keys', async () => {
    const lines = await logsInLambda(async ({ observedHandler: observed }) => {
      const handler = observed('shift-traffic', async () => ({ weights: [] }));
      await expect(handler({ cluster: 'apim-prod', execution: EXECUTION }, CONTEXT)).resolves.toEqual({ weights: [] });
    });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'Succeeded',
        service: 'zerodown',
        operation: 'shift-traffic',
        cluster: 'apim-prod',
        execution: EXECUTION,
        function_name: CONTEXT.functionName,
        function_request_id: CONTEXT.awsRequestId,
        durationMs: expect.any(Number),
      }),
    ]);
  });

  it('warns of a named workflow error, reports any other as an error, and rethrows both unchanged', async () => {
    const guard = new CapacityGuardError('2 healthy nodes needed, 1 would serve');
    const fault = new TypeError('cannot read properties of undefined');
    const lines = await logsInLambda(async ({ observedHandler: observed }) => {
      await expect(observed('shift-traffic', () => Promise.reject(guard))({ cluster: 'apim-prod' })).rejects.toBe(
        guard,
      );
      await expect(observed('verify-node', () => Promise.reject(fault))({ cluster: 'apim-prod' })).rejects.toBe(fault);
    });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'WARN',
        message: 'Failed with CapacityGuardError',
        operation: 'shift-traffic',
        error: expect.objectContaining({ name: 'CapacityGuardError', message: guard.message }),
      }),
      expect.objectContaining({
        level: 'ERROR',
        message: 'Failed',
        operation: 'verify-node',
        error: expect.objectContaining({ name: 'TypeError', stack: expect.any(String) }),
      }),
    ]);
  });

  it("does not carry one invocation's keys into the next", async () => {
    const lines = await logsInLambda(async ({ observedHandler: observed }) => {
      const handler = observed('cluster-lock', async () => 'ok');
      await handler({ cluster: 'apim-prod', owner: EXECUTION });
      await handler({ cluster: 'apim-prod', owner: 'operator:alice' });
    });
    expect(lines[0]).toMatchObject({ execution: EXECUTION });
    expect(lines[1]).not.toHaveProperty('execution');
  });

  it('writes nothing outside Lambda, where the sandbox and the tests call the handlers', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await observedHandler('notify', async () => 'sent')({ cluster: 'apim-prod' });
      expect(write).not.toHaveBeenCalled();
    } finally {
      write.mockRestore();
    }
  });

  it('takes the execution from the caller every step names, else `execution` or the lock owner, if an ARN', () => {
    const ended = EXECUTION.replace('run-1', 'run-0');
    expect(correlationKeys({ cluster: 'c', callerExecution: EXECUTION, execution: ended })).toEqual({
      cluster: 'c',
      execution: EXECUTION,
    });
    expect(correlationKeys({ cluster: 'c', execution: EXECUTION })).toEqual({ cluster: 'c', execution: EXECUTION });
    expect(correlationKeys({ cluster: 'c', owner: EXECUTION })).toEqual({ cluster: 'c', execution: EXECUTION });
    expect(correlationKeys({ cluster: 'c', owner: 'operator:alice' })).toEqual({ cluster: 'c' });
    expect(correlationKeys('not an object')).toEqual({});
  });
});

describe('the calling execution in every step input', () => {
  it('is set aside before validation, so a strict input schema accepts it and no operation sees it', () => {
    const schema = z.strictObject({ cluster: z.string() });
    expect(parseInput(schema, { cluster: 'apim-prod', callerExecution: EXECUTION }, 'test')).toEqual({
      cluster: 'apim-prod',
    });
    expect(() => parseInput(schema, { cluster: 'apim-prod', unknownField: 1 }, 'test')).toThrow(InputValidationError);
  });
});
