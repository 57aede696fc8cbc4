import { ExecutionDoesNotExist, type SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { ExecutionStopper } from '../domain/lock';

/** Step Functions as the lock needs it: stopping the execution a failover took the lock from. */
export function stepFunctionsStopper(sfn: SFNClient): ExecutionStopper {
  return {
    stop: async (executionArn, error, cause) => {
      try {
        await sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
        return true;
      } catch (caught) {
        if (caught instanceof ExecutionDoesNotExist) return false;
        throw caught;
      }
    },
  };
}
