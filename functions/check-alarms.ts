import * as z from 'zod/mini';
import { cloudwatchClient } from './aws/clients/cloudwatch';
import { checkAlarms } from './aws/cloudwatch';
import { alarmNameInput, clusterInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';

const inputSchema = z.strictObject({ ...clusterInput, alarms: z.array(alarmNameInput).check(z.maxLength(20)) });

/** After a traffic step's bake: fails with AlarmTriggeredError if any named alarm is in ALARM. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'check-alarms');
  assertOwnCluster(input.cluster);
  return checkAlarms(cloudwatchClient, input.alarms);
}
