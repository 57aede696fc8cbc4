import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { alarmStates } from '../aws/cloudwatch';
import { type FailoverStarter, failoversToStart, type SlotAlarm } from '../domain/recheck';

export interface RecheckResult {
  readonly failoverRunning: boolean;
  /** Slots whose alarm is in ALARM and that got a failover this time. */
  readonly inAlarm: string[];
  /** Executions started; a name already taken (a retried re-check) is not started again. */
  readonly started: string[];
}

/** Starts failover again for each slot whose node alarm stays in ALARM, unless a failover is running. */
export async function recheckFailover(
  clients: { cloudwatch: CloudWatchClient },
  failover: FailoverStarter,
  request: { cluster: string; slots: readonly SlotAlarm[]; now?: Date },
): Promise<RecheckResult> {
  const [states, failoverRunning] = await Promise.all([
    alarmStates(
      clients.cloudwatch,
      request.slots.map((slot) => slot.alarmName),
    ),
    failover.running(),
  ]);
  const starts = failoversToStart(request.cluster, request.slots, states, {
    failoverRunning,
    now: request.now ?? new Date(),
  });
  const started: string[] = [];
  for (const start of starts) {
    if (await failover.start(start.name, start.input)) started.push(start.name);
  }
  return { failoverRunning, inAlarm: starts.map((start) => start.input.slot), started };
}
