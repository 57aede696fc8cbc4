import { type CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { AlarmTriggeredError } from '../domain/errors';
import type { AlarmState } from '../domain/recheck';

export interface AlarmCheck {
  readonly checked: string[];
  /** Alarms that do not exist: named in the request but unknown to CloudWatch. */
  readonly missing: string[];
}

/**
 * Fails with `AlarmTriggeredError` when any of the named CloudWatch alarms is in ALARM: the bake after a traffic
 * step is over, and the workflow rolls back. An alarm that does not exist fails the check too, since a typo in an
 * alarm name must not silently disable the safety net.
 */
export async function checkAlarms(cloudwatch: CloudWatchClient, alarmNames: readonly string[]): Promise<AlarmCheck> {
  if (alarmNames.length === 0) return { checked: [], missing: [] };
  const response = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [...alarmNames] }));
  const alarms = [...(response.MetricAlarms ?? []), ...(response.CompositeAlarms ?? [])];
  const firing = alarms.filter((alarm) => alarm.StateValue === 'ALARM');
  if (firing.length > 0) {
    throw new AlarmTriggeredError(
      `Alarm ${firing.map((alarm) => `"${alarm.AlarmName}" (${alarm.StateReason ?? 'in ALARM'})`).join(', ')} fired during the bake`,
    );
  }
  const known = new Set(alarms.map((alarm) => alarm.AlarmName));
  const missing = alarmNames.filter((name) => !known.has(name));
  if (missing.length > 0) {
    throw new AlarmTriggeredError(`Alarm ${missing.map((name) => `"${name}"`).join(', ')} does not exist`);
  }
  return { checked: [...alarmNames], missing };
}

/** The state of each named alarm, and when it last changed; alarms that do not exist are left out. */
export async function alarmStates(cloudwatch: CloudWatchClient, alarmNames: readonly string[]): Promise<AlarmState[]> {
  if (alarmNames.length === 0) return [];
  const response = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [...alarmNames] }));
  return (response.MetricAlarms ?? []).map((alarm) => ({
    alarmName: alarm.AlarmName ?? '',
    state: (alarm.StateValue ?? 'INSUFFICIENT_DATA') as AlarmState['state'],
    since: alarm.StateUpdatedTimestamp ?? new Date(0),
  }));
}
