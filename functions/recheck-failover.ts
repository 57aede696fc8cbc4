import * as z from 'zod/mini';
import { cloudwatchClient } from './aws/clients/cloudwatch';
import { sfnClient } from './aws/clients/sfn';
import { observedHandler } from './aws/observability';
import { stateMachineStarter } from './aws/sfn';
import { requireEnv } from './domain/errors';
import { clusterInput, parseInput } from './domain/input';
import { assertOwnCluster } from './domain/own-cluster';
import type { SlotAlarm } from './domain/recheck';
import { recheckFailover } from './operations/recheck-failover';

const failover = stateMachineStarter(sfnClient, requireEnv('FAILOVER_STATE_MACHINE_ARN'));
/** The cluster's node alarms by slot, as the stack made them. */
const slots: SlotAlarm[] = JSON.parse(requireEnv('NODE_ALARMS'));

const inputSchema = z.object({ ...clusterInput });

/** Run every minute by a schedule; see domain/recheck.ts. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'recheck-failover');
  assertOwnCluster(input.cluster);
  return recheckFailover({ cloudwatch: cloudwatchClient }, failover, { cluster: input.cluster, slots });
}

export const handler = observedHandler('recheck-failover', handle);
