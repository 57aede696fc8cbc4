import * as z from 'zod/mini';
import { checkAlarms } from './lib/alarms';
import { cloudwatchClient } from './lib/clients/cloudwatch';
import { alarmNameInput, clusterInput, parseInput } from './lib/input';
import { assertOwnCluster } from './lib/own-cluster';

const inputSchema = z.strictObject({ ...clusterInput, alarms: z.array(alarmNameInput).check(z.maxLength(20)) });

/** After a traffic step's bake: fails with AlarmTriggeredError if any named alarm is in ALARM. */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'check-alarms');
  assertOwnCluster(input.cluster);
  return checkAlarms(cloudwatchClient, input.alarms);
}
