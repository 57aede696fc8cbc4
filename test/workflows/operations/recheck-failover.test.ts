import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { stateMachineStarter } from '../../../functions/aws/sfn';
import { failoversToStart } from '../../../functions/domain/recheck';
import { recheckFailover } from '../../../functions/operations/recheck-failover';
import { startMotoExecution } from '../../../local/moto-resources';
import { putHeartbeatAlarm } from '../../harness/heartbeat-alarms';
import { useMoto } from '../../harness/moto';

const SLOTS = [
  { slot: 'a', alarmName: 'zerodown-apim-node-a-lost' },
  { slot: 'b', alarmName: 'zerodown-apim-node-b-lost' },
];

describe('the failover re-check', () => {
  useMoto();
  const cloudwatch = new CloudWatchClient({});
  const sfn = new SFNClient({});

  const alarm = (name: string, state: 'OK' | 'ALARM') => putHeartbeatAlarm(cloudwatch, name, state);

  /** A failover state machine in moto, with one execution that ended, so the re-check finds none running. */
  async function failoverMachine() {
    const ended = await startMotoExecution('zerodown-apim-failover', 'ended-before');
    await sfn.send(new StopExecutionCommand({ executionArn: ended }));
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: ended }));
    return described.stateMachineArn ?? '';
  }

  it('starts failover again for a slot whose alarm stays in ALARM, once per minute however often it runs', async () => {
    // The probe: after a failed or skipped failover the alarm stays in ALARM, and no state change ever comes again.
    await alarm('zerodown-apim-node-a-lost', 'ALARM');
    await alarm('zerodown-apim-node-b-lost', 'OK');
    const failoverStateMachineArn = await failoverMachine();
    const now = new Date('2026-11-30T15:03:20Z');

    const failover = stateMachineStarter(sfn, failoverStateMachineArn);
    const first = await recheckFailover({ cloudwatch }, failover, { cluster: 'apim', slots: SLOTS, now });
    const retried = await recheckFailover({ cloudwatch }, failover, { cluster: 'apim', slots: SLOTS, now });

    expect(first).toEqual({ failoverRunning: false, inAlarm: ['a'], started: ['recheck-a-20261130T1503'] });
    // The same minute again (EventBridge retried the target): the name is taken, nothing starts twice.
    expect(retried.started).toEqual([]);
    const executions = await sfn.send(new ListExecutionsCommand({ stateMachineArn: failoverStateMachineArn }));
    const started = executions.executions?.find((execution) => execution.name === 'recheck-a-20261130T1503');
    expect(started?.status).toBe('RUNNING');
  });

  it('starts nothing while a failover runs, or when no alarm is in ALARM', async () => {
    await alarm('zerodown-apim-node-a-lost', 'ALARM');
    await alarm('zerodown-apim-node-b-lost', 'OK');
    const running = await startMotoExecution('zerodown-apim-failover', 'still-running');
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: running }));
    const failoverStateMachineArn = described.stateMachineArn ?? '';

    const failover = stateMachineStarter(sfn, failoverStateMachineArn);
    const whileRunning = await recheckFailover({ cloudwatch }, failover, { cluster: 'apim', slots: SLOTS });
    await sfn.send(new StopExecutionCommand({ executionArn: running }));
    await alarm('zerodown-apim-node-a-lost', 'OK');
    const allOk = await recheckFailover({ cloudwatch }, failover, { cluster: 'apim', slots: SLOTS });

    expect(whileRunning).toEqual({ failoverRunning: true, inAlarm: [], started: [] });
    expect(allOk).toEqual({ failoverRunning: false, inAlarm: [], started: [] });
  });

  it('asks for a reminder once an alarm has stayed in ALARM 5 minutes, and hourly after, not every minute', () => {
    const since = new Date('2026-11-30T15:00:00Z');
    const remindAt = (minutes: number) =>
      failoversToStart('apim', SLOTS.slice(0, 1), [{ alarmName: 'zerodown-apim-node-a-lost', state: 'ALARM', since }], {
        failoverRunning: false,
        now: new Date(since.getTime() + minutes * 60_000 + 5_000),
      })[0]?.input.remind;

    expect([0, 1, 4, 5, 6, 30, 64, 65, 66, 125].map(remindAt)).toEqual([
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      true,
      false,
      true,
    ]);
  });
});
