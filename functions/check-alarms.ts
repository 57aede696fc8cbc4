import * as z from 'zod/mini';
import { cloudwatchClient } from './aws/clients/cloudwatch';
import { checkAlarms } from './aws/cloudwatch';
import { observedHandler } from './aws/observability';
import { alarmNameInput, clusterInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';

const inputSchema = z.strictObject({ ...clusterInput, alarms: z.array(alarmNameInput).check(z.maxLength(20)) });

/** After a traffic step's bake: fails with AlarmTriggeredError if any named alarm is in ALARM. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'check-alarms');
  assertOwnCluster(input.cluster);
  return checkAlarms(cloudwatchClient, input.alarms);
}

export const handler = observedHandler('check-alarms', handle);
