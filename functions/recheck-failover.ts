import * as z from 'zod/mini';
import { cloudwatchClient } from './aws/clients/cloudwatch';
import { sfnClient } from './aws/clients/sfn';
import { alarmStates } from './aws/cloudwatch';
import { stateMachineStarter } from './aws/sfn';
import { requireEnv } from './domain/errors';
import { clusterInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';
import { failoversToStart, type SlotAlarm } from './domain/recheck';

const failover = stateMachineStarter(sfnClient, requireEnv('FAILOVER_STATE_MACHINE_ARN'));
/** The cluster's node alarms by slot, as the stack made them. */
const slots: SlotAlarm[] = JSON.parse(requireEnv('NODE_ALARMS'));

const inputSchema = z.object({ ...clusterInput });

/**
 * Run every minute by a schedule: starts failover again for each slot whose node alarm is still in ALARM, unless a
 * failover is running. See domain/recheck.ts.
 */
export async function handler(event: unknown) {
  const input = parseInput(inputSchema, event, 'recheck-failover');
  assertOwnCluster(input.cluster);
  const [states, failoverRunning] = await Promise.all([
    alarmStates(
      cloudwatchClient,
      slots.map((slot) => slot.alarmName),
    ),
    failover.running(),
  ]);
  const starts = failoversToStart(input.cluster, slots, states, { failoverRunning, now: new Date() });
  const started = [];
  for (const start of starts) {
    if (await failover.start(start.name, start.input)) started.push(start.name);
  }
  return { failoverRunning, inAlarm: starts.map((start) => start.input.slot), started };
}
