import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  type SFNClient,
  StateMachineDoesNotExist,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { HolderStatus, WorkflowExecutions } from '../domain/lock';

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
