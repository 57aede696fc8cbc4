import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { drStackIdFor } from '../../cdk/app';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { checksTooSlowFor, nodeProbeSeconds, PROBE_AWS_SECONDS } from '../../functions/domain/probe';
import { TASK_TIMEOUT_HEADROOM_SECONDS } from '../../functions/domain/workflows';
import { allStates, invokedFunctionArn, stateMachinesIn } from '../../local/asl';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

type Raw = Parameters<typeof resourcesOfType>[0];

describe('someone is told', () => {
  const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template as Raw;
  const template = Template.fromJSON(raw);
  const alarms = resourcesOfType(raw, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
  const alarmNamed = (name: string) => alarms.find((alarm) => alarm.AlarmName === name);
  const topicOf = (alarm: Record<string, unknown> | undefined) => JSON.stringify(alarm?.AlarmActions);

  it.each(['patch-server', 'upgrade-version', 'deploy-service', 'update-service', 'failover', 'recover'])(
    'alarms on every failed, timed-out or aborted %s execution',
    (workflow) => {
      for (const [end, metric] of [
        ['failed', 'ExecutionsFailed'],
        ['timedout', 'ExecutionsTimedOut'],
        ['aborted', 'ExecutionsAborted'],
      ]) {
        const alarm = alarmNamed(`zerodown-test-cluster-${workflow}-executions-${end}`);
        expect(alarm).toMatchObject({
          Namespace: 'AWS/States',
          MetricName: metric,
          Threshold: 1,
          EvaluationPeriods: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        });
        // Failover's alarms page; the others go to the cluster's topic.
        expect(topicOf(alarm)).toMatch(workflow === 'failover' ? /ClusterAlertsPaging/ : /ClusterEvents/);
      }
    },
  );

  it('gives every EventBridge target a dead-letter queue, and pages when an event lands there', () => {
    const rules = resourcesOfType(raw, 'AWS::Events::Rule');
    const targets = rules.flatMap(([, rule]) => (rule.Properties?.Targets as Record<string, unknown>[]) ?? []);
    expect(targets.length).toBeGreaterThanOrEqual(2 + 6 + 5 + 6 + 1);
    for (const target of targets) {
      expect(JSON.stringify(target.DeadLetterConfig)).toMatch(/ClusterAlertsEventDeadLetters/);
    }
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
    });
    expect(alarmNamed('zerodown-test-cluster-events-undelivered')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
    expect(topicOf(alarmNamed('zerodown-test-cluster-events-undelivered'))).toMatch(/ClusterAlertsPaging/);
  });

  it('reports every start of every workflow from its status event', () => {
    const starts = resourcesOfType(raw, 'AWS::Events::Rule').filter(([, rule]) =>
      String(JSON.stringify(rule.Properties?.EventPattern)).includes('"status":["RUNNING"]'),
    );
    expect(starts).toHaveLength(6);
    for (const [, rule] of starts) {
      expect(JSON.stringify(rule.Properties?.Targets)).toContain('\\"outcome\\":\\"started\\"');
    }
  });

  it('re-checks the node alarms every minute, allowed only to read them and start this failover', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    const recheck = resourcesOfType(raw, 'AWS::IAM::Policy').find(([id]) => id.startsWith('ClusterNodeAlarmsRecheck'));
    const document = recheck?.[1].Properties?.PolicyDocument as { Statement: Record<string, unknown>[] } | undefined;
    const statements = document?.Statement ?? [];
    const byAction = (action: string) =>
      statements.find((statement) => JSON.stringify(statement.Action) === JSON.stringify(action));
    expect(JSON.stringify(byAction('cloudwatch:DescribeAlarms')?.Resource)).toMatch(
      /ClusterNodeAlarmsLosta.*ClusterNodeAlarmsLostb/,
    );
    expect(JSON.stringify(byAction('states:StartExecution')?.Resource)).toMatch(/ClusterWorkflowsFailoverStateMachine/);
    expect(JSON.stringify(byAction('states:ListExecutions')?.Resource)).toMatch(/ClusterWorkflowsFailoverStateMachine/);
  });
});

describe('the DR stack tells someone in its own region', () => {
  const raw = synthesizedApp().stack(drStackIdFor('test-cluster')).template as Raw;
  const template = Template.fromJSON(raw);

  it('has an encrypted topic that its execution alarms and status rule publish to, with a dead-letter queue', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    const alarms = resourcesOfType(raw, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
    expect(alarms.map((alarm) => alarm.AlarmName).sort()).toEqual([
      'zerodown-test-cluster-dr-events-undelivered',
      'zerodown-test-cluster-dr-region-failover-executions-aborted',
      'zerodown-test-cluster-dr-region-failover-executions-failed',
      'zerodown-test-cluster-dr-region-failover-executions-timedout',
    ]);
    for (const alarm of alarms) expect(JSON.stringify(alarm.AlarmActions)).toMatch(/AlertsPaging/);
    const [[, rule] = ['', {}]] = resourcesOfType(raw, 'AWS::Events::Rule');
    const [target] = (rule.Properties?.Targets ?? []) as Record<string, unknown>[];
    expect(JSON.stringify(target?.Arn)).toMatch(/AlertsPaging/);
    expect(JSON.stringify(target?.InputTransformer)).toContain('console.aws.amazon.com/states/home');
    expect(JSON.stringify(target?.DeadLetterConfig)).toMatch(/AlertsEventDeadLetters/);
  });
});

describe('budgets that fit', () => {
  it('gives every task longer than its Lambda function may run, and retries throttling and timeouts with jitter', () => {
    const stacks = synthesizedApp().stacks.filter((stack) =>
      [TEST_CLUSTER_STACK, drStackIdFor('test-cluster')].includes(stack.stackName),
    );
    expect(stacks).toHaveLength(2);
    let tasks = 0;
    for (const stack of stacks) {
      const timeoutOf = new Map(
        resourcesOfType(stack.template, 'AWS::Lambda::Function').map(([id, fn]) => [
          id,
          Number(fn.Properties?.Timeout),
        ]),
      );
      for (const machine of stateMachinesIn(stack.template, stack.env)) {
        for (const { name, state } of allStates(machine.definition)) {
          const functionId = invokedFunctionArn(state)?.split(':function:')[1];
          if (!functionId) continue;
          tasks++;
          const limit = timeoutOf.get(functionId);
          expect({ state: name, functionId, timeout: state.TimeoutSeconds }).toEqual({
            state: name,
            functionId,
            timeout: (limit ?? Number.NaN) + TASK_TIMEOUT_HEADROOM_SECONDS,
          });
          const retried = (state.Retry ?? []).find((retrier) => retrier.ErrorEquals.includes('States.Timeout'));
          expect(retried?.ErrorEquals).toContain('Lambda.TooManyRequestsException');
          expect((retried as Record<string, unknown> | undefined)?.JitterStrategy).toBe('FULL');
        }
      }
    }
    expect(tasks).toBeGreaterThan(100);
  });

  it('gives the confirmation of a node loss room for a 30-second health check against a node that never answers', () => {
    // The probe: the model allowed 30 s checks while "Confirm the node loss" had 30 s in all.
    const model = testClusterModel();
    const slowChecks = {
      ...model,
      healthChecks: {
        ...model.healthChecks,
        http: model.healthChecks.http.map((check) => ({ ...check, timeoutMs: 30_000 })),
      },
    };
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'SlowChecks', {
      env: { region: model.region, account: '123456789012' },
    });
    new ZeroDownCluster(stack, 'Cluster', { model: slowChecks });
    const raw = Template.fromStack(stack).toJSON() as Raw;
    const confirm = resourcesOfType(raw, 'AWS::Lambda::Function').find(([id]) =>
      id.startsWith('ClusterOperationsConfirmNodeLoss'),
    );
    expect(confirm?.[1].Properties?.Timeout).toBe(30 + PROBE_AWS_SECONDS);
  });

  it('lets the functions that probe nodes wait out the slowest health check of the model', () => {
    const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template as Raw;
    const confirm = resourcesOfType(raw, 'AWS::Lambda::Function').find(([id]) =>
      id.startsWith('ClusterOperationsConfirmNodeLoss'),
    );
    expect(confirm?.[1].Properties?.Timeout).toBeGreaterThanOrEqual(30);
    expect(nodeProbeSeconds({ healthChecks: { http: [{ timeoutMs: 30_000 }, { timeoutMs: 2_000 }] } })).toBe(
      30 + PROBE_AWS_SECONDS,
    );
    expect(checksTooSlowFor({ healthChecks: { http: [{ timeoutMs: 2_000 }, { timeoutMs: 50_000 }] } }, 60)).toEqual([
      { path: 'healthChecks.http[1].timeoutMs', message: expect.stringContaining('must fit in 60 s') },
    ]);
  });
});

describe('the dashboard', () => {
  it('shows the node alarms, zerodown’s own failure alarms, the heartbeats per slot and the executions', () => {
    const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template as Raw;
    const [[, dashboard] = ['', {}]] = resourcesOfType(raw, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties?.DashboardBody);

    expect(dashboard.Properties?.DashboardName).toBe('zerodown-test-cluster');
    for (const widget of ['Failover detection: node alarms', "zerodown's own failures", 'Heartbeats per slot']) {
      expect(body).toContain(widget);
    }
    expect(body).toMatch(/ClusterNodeAlarmsLosta.*ClusterNodeAlarmsLostb/);
    expect(body).toContain('ExecutionsFailed');
  });

  it('graphs the weights and healthy nodes the shifts report, the failover times, the outcomes and the dead letters', () => {
    const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template as Raw;
    const [[, dashboard] = ['', {}]] = resourcesOfType(raw, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.Properties?.DashboardBody);
    for (const slot of ['a', 'b', 'surge']) {
      expect(body).toContain(
        `[\\"ZeroDown\\",\\"SlotWeight\\",\\"Cluster\\",\\"test-cluster\\",\\"Slot\\",\\"${slot}\\",\\"service\\",\\"zerodown\\"`,
      );
    }
    for (const metric of ['HealthyServingNodes', 'FailoverTrafficMovedSeconds', 'FailoverRedundancyRestoredSeconds']) {
      // The dimensions the functions write (Powertools adds `service`), or the graph would stay empty.
      expect(body).toContain(
        `[\\"ZeroDown\\",\\"${metric}\\",\\"Cluster\\",\\"test-cluster\\",\\"service\\",\\"zerodown\\"`,
      );
    }
    for (const outcome of ['ExecutionsSucceeded', 'ExecutionsAborted', 'ExecutionsTimedOut'])
      expect(body).toContain(outcome);
    const [[deadLetters] = ['']] = resourcesOfType(raw, 'AWS::SQS::Queue');
    expect(body).toContain('ApproximateNumberOfMessagesVisible');
    expect(body).toContain(deadLetters);
  });
});
