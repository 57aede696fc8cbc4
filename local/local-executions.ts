import type { DescribeExecutionCommandOutput, StopExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { sfnClient } from '../functions/aws/clients/sfn';
import type { MiddlewareStack } from './faults';

/**
 * The local runner's executions, as Step Functions would answer for them. The lock asks DescribeExecution whether a
 * holder still runs, and a failover stops the execution it pre-empts; moto knows nothing of executions that run in
 * this process, so the runner's own SFN client answers both for them and passes every other call through to moto.
 */

export type LocalExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

interface TrackedExecution {
  readonly stateMachineArn: string;
  readonly startDate: Date;
  status: LocalExecutionStatus;
  stopDate?: Date;
  readonly abort: () => void;
}

const executions = new Map<string, TrackedExecution>();
const MIDDLEWARE_NAME = 'zerodownLocalExecutions';
let installed = false;

function answerFor(commandName: string | undefined, executionArn: string, tracked: TrackedExecution) {
  if (commandName === 'DescribeExecutionCommand') {
    const output: DescribeExecutionCommandOutput = {
      $metadata: {},
      executionArn,
      stateMachineArn: tracked.stateMachineArn,
      status: tracked.status,
      startDate: tracked.startDate,
      ...(tracked.stopDate ? { stopDate: tracked.stopDate } : {}),
    };
    return output;
  }
  if (commandName === 'StopExecutionCommand') {
    if (tracked.status === 'RUNNING') {
      tracked.status = 'ABORTED';
      tracked.stopDate = new Date();
      tracked.abort();
    }
    const output: StopExecutionCommandOutput = { $metadata: {}, stopDate: tracked.stopDate ?? new Date() };
    return output;
  }
  return undefined;
}

function install(): void {
  if (installed) return;
  installed = true;
  (sfnClient.middlewareStack as unknown as MiddlewareStack).add(
    (next, context) => async (args) => {
      const executionArn = (args.input as { executionArn?: string }).executionArn;
      const tracked = executionArn ? executions.get(executionArn) : undefined;
      const output = tracked && executionArn ? answerFor(context.commandName, executionArn, tracked) : undefined;
      return output ? { output } : next(args);
    },
    { step: 'initialize', priority: 'high', name: MIDDLEWARE_NAME },
  );
}

/** Registers a running local execution; the answer records how it ended. */
export function trackLocalExecution(
  executionArn: string,
  execution: { stateMachineArn: string; startDate: Date; abort: () => void },
): { ended(status: LocalExecutionStatus): void } {
  install();
  const tracked: TrackedExecution = { ...execution, status: 'RUNNING' };
  executions.set(executionArn, tracked);
  return {
    ended(status) {
      if (tracked.status !== 'RUNNING') return;
      tracked.status = status;
      tracked.stopDate = new Date();
    },
  };
}
