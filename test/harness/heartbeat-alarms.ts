import { type CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';

/** A node heartbeat alarm in moto, as the stack creates it, put in the given state. */
export async function putHeartbeatAlarm(
  cloudwatch: CloudWatchClient,
  alarmName: string,
  state: 'OK' | 'ALARM',
): Promise<void> {
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: alarmName,
      Namespace: 'ZeroDown',
      MetricName: 'NodeHeartbeat',
      Statistic: 'SampleCount',
      Period: 10,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
    }),
  );
  await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: state, StateReason: 'test' }));
}
