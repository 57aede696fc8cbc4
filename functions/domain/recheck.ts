/**
 * The re-check that keeps failover armed. A node alarm starts failover only on its change into ALARM; an alarm that
 * stays there (a failover that failed, one that found the node answering, one that left the node to a workflow that
 * then gave up) would never start another. Every minute, each slot whose alarm is still in ALARM gets a failover
 * again, unless one is running: a node that is still lost is acted on, and one that answers ends as a blip.
 */

/** The heartbeat alarm of a slot: the node that holds the slot beats for it, so a replacement inherits it. */
export function nodeAlarmName(clusterName: string, slot: string): string {
  return `zerodown-${clusterName}-node-${slot}-lost`;
}

/** The failover state machine, as the re-check needs it (Step Functions, or the sandbox's local runner). */
export interface FailoverStarter {
  /** Whether any failover execution is running. */
  running(): Promise<boolean>;
  /** Starts a failover by name; false when one of that name exists already (a retried start). */
  start(name: string, input: unknown): Promise<boolean>;
}

export interface SlotAlarm {
  readonly slot: string;
  readonly alarmName: string;
}

export interface AlarmState {
  readonly alarmName: string;
  readonly state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  /** When the alarm last changed state. */
  readonly since: Date;
}

export interface FailoverStart {
  /** Unique per slot and minute: a retried re-check starts nothing twice. */
  readonly name: string;
  readonly input: {
    readonly cluster: string;
    readonly slot: string;
    readonly alarmName: string;
    readonly detectedAt: string;
    readonly trigger: 'recheck';
    /**
     * Whether a node that answers its checks should be reported this time: once its alarm has been in ALARM for
     * `REMIND_AFTER_MINUTES`, and hourly after. A node that answers but stays in ALARM that long publishes no
     * heartbeat, a configuration fault worth telling without telling it every minute. Sooner would also tell of a
     * replacement whose first heartbeats the alarm has not judged yet.
     */
    readonly remind: boolean;
  };
}

/** How often the schedule runs the re-check. */
export const RECHECK_INTERVAL_MINUTES = 1;
export const REMIND_AFTER_MINUTES = 5;
const REMIND_EVERY_MINUTES = 60;

export function failoversToStart(
  cluster: string,
  slots: readonly SlotAlarm[],
  states: readonly AlarmState[],
  options: { failoverRunning: boolean; now: Date },
): FailoverStart[] {
  if (options.failoverRunning) return [];
  const minute = options.now.toISOString().slice(0, 16).replace(/[-:]/g, '');
  return slots.flatMap(({ slot, alarmName }) => {
    const alarm = states.find((candidate) => candidate.alarmName === alarmName);
    if (alarm?.state !== 'ALARM') return [];
    const minutesInAlarm = Math.floor((options.now.getTime() - alarm.since.getTime()) / 60_000);
    return [
      {
        name: `recheck-${slot}-${minute}`,
        input: {
          cluster,
          slot,
          alarmName,
          detectedAt: alarm.since.toISOString(),
          trigger: 'recheck' as const,
          remind:
            minutesInAlarm >= REMIND_AFTER_MINUTES &&
            (minutesInAlarm - REMIND_AFTER_MINUTES) % REMIND_EVERY_MINUTES === 0,
        },
      },
    ];
  });
}
