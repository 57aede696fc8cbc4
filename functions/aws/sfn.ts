import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { HolderStatus, WorkflowExecutions } from '../domain/lock';
import type { FailoverStarter } from '../domain/recheck';

const gone = (error: unknown) => error instanceof ExecutionDoesNotExist || error instanceof StateMachineDoesNotExist;

/**
 * Step Functions as the lock needs it: whether a lock holder's execution still runs, and stopping the execution a
 * failover took the lock from. An execution whose state machine was deleted reads as `GONE`.
 */
export function stepFunctionsExecutions(sfn: SFNClient): WorkflowExecutions {
  return {
    status: async (executionArn) => {
      try {
        const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        return (execution.status ?? 'GONE') as HolderStatus;
      } catch (caught) {
        if (gone(caught)) return 'GONE';
        throw caught;
      }
    },
    stop: async (executionArn, error, cause) => {
      try {
        await sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
        return true;
      } catch (caught) {
        if (gone(caught)) return false;
        throw caught;
      }
    },
  };
}

/** One state machine's executions, as the failover re-check needs them. */
export function stateMachineStarter(sfn: SFNClient, stateMachineArn: string): FailoverStarter {
  return {
    /** Whether any execution of the state machine is running. */
    running: async (): Promise<boolean> => {
      const response = await sfn.send(
        new ListExecutionsCommand({ stateMachineArn, statusFilter: 'RUNNING', maxResults: 1 }),
      );
      return (response.executions ?? []).length > 0;
    },
    /** Starts an execution by name; false when one of that name exists already (a retried start). */
    start: async (name: string, input: unknown): Promise<boolean> => {
      try {
        await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
        return true;
      } catch (caught) {
        if (caught instanceof ExecutionAlreadyExists) return false;
        throw caught;
      }
    },
  };
}
