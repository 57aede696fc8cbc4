import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ENDED_STEP } from '../../cdk/constructs/workflows';
import { snsClient } from '../../functions/aws/clients/sns';
import { CLUSTER_WORKFLOWS } from '../../functions/domain/workflows';
import { stateMachineLogicalId } from '../../local/local-sfn';
import { resolveIntrinsics, resourcesOfType } from '../../local/template';
import { type AlarmRoute, alarmRoutesOf, matchesPattern, transformInput } from '../../sandbox/alarms';
import { useMoto } from '../harness/moto';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK } from '../harness/test-app';

type Json = Parameters<typeof resolveIntrinsics>[2];

interface EndedRule {
  readonly pattern: Record<string, unknown>;
  readonly inputTemplate: string;
  readonly inputPathsMap: Record<string, string>;
}

/** The rules that report how an execution of the cluster's workflows ended, as the template wires them. */
function endedRules(): EndedRule[] {
  const stack = synthesizedApp().stack(TEST_CLUSTER_STACK);
  return resourcesOfType(stack.template, 'AWS::Events::Rule').flatMap(([, rule]) => {
    const properties = resolveIntrinsics(stack.template, stack.env, (rule.Properties ?? {}) as Json) as {
      EventPattern?: Record<string, unknown> & { source: string[]; detail?: { status?: string[] } };
      Targets: { InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string } }[];
    };
    // Status rules only (not the schedule), and of those the ones on an end (not the start reports).
    const pattern = properties.EventPattern;
    if (!pattern?.source.includes('aws.states') || pattern.detail?.status?.includes('RUNNING')) return [];
    const [target] = properties.Targets;
    return target
      ? [
          {
            pattern,
            inputTemplate: target.InputTransformer.InputTemplate,
            inputPathsMap: target.InputTransformer.InputPathsMap,
          },
        ]
      : [];
  });
}

/** The patch-server state machine's ARN as the local template resolver names it (by its logical id). */
const machineArn = () =>
  `arn:aws:states:us-east-1:123456789012:stateMachine:${stateMachineLogicalId(synthesizedApp().stack(TEST_CLUSTER_STACK), 'patch-server')}`;

function statusChange(status: string) {
  return {
    version: '0',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    detail: {
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1',
      stateMachineArn: machineArn(),
      name: 'run-1',
      status,
      error: status === 'ABORTED' ? null : 'States.Timeout',
      cause: null,
    },
  };
}

describe('executions that end without their own report', () => {
  useMoto();

  it('has a rule for each workflow of the cluster, matching only its own machine and only an unsuccessful end', () => {
    const rules = endedRules();
    expect(rules).toHaveLength(CLUSTER_WORKFLOWS.length);
    const patch = rules.filter((rule) => matchesPattern(rule.pattern, statusChange('ABORTED')));
    expect(patch).toHaveLength(1);
    for (const status of ['TIMED_OUT', 'FAILED']) {
      expect(rules.filter((rule) => matchesPattern(rule.pattern, statusChange(status)))).toEqual(patch);
    }
    for (const status of ['SUCCEEDED', 'RUNNING']) {
      expect(rules.filter((rule) => matchesPattern(rule.pattern, statusChange(status)))).toEqual([]);
    }
  });

  it('tells the cluster topic how an aborted execution ended, through the notify function', async () => {
    const sqs = new SQSClient({});
    const topic = await snsClient.send(new CreateTopicCommand({ Name: 'zerodown-events' }));
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'operator' }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await snsClient.send(
      new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }),
    );
    process.env.TOPIC_ARN = topic.TopicArn;
    const { handler } = await import('../../functions/notify');
    const [rule] = endedRules().filter((candidate) => matchesPattern(candidate.pattern, statusChange('ABORTED')));

    // The rule's input transformer, applied as the sandbox's event router applies it; its target is not a workflow.
    const route = { ...(rule as EndedRule), stateMachineArn: '', workflow: undefined };
    await handler(transformInput(route, statusChange('ABORTED')));

    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 1 }));
    const envelope = JSON.parse(received.Messages?.[0]?.Body ?? '{}');
    expect(envelope.Subject).toMatch(/^zerodown test-cluster: patch-server FAILED - The execution ended/);
    expect(JSON.parse(envelope.Message)).toMatchObject({
      cluster: 'test-cluster',
      workflow: 'patch-server',
      step: ENDED_STEP,
      execution: statusChange('ABORTED').detail.executionArn,
      detail: { status: 'ABORTED' },
    });
  });

  it('starts recover for an ended execution of every workflow but recover itself, with its ARN and status', () => {
    const stack = synthesizedApp().stack(TEST_CLUSTER_STACK);
    const routes = alarmRoutesOf(stack).filter((route) => route.workflow === 'recover');
    const event = statusChange('TIMED_OUT');

    const [route, ...others] = routes.filter((candidate) => matchesPattern(candidate.pattern, event));

    expect(others).toEqual([]);
    expect(transformInput(route as AlarmRoute, event)).toEqual({
      cluster: 'test-cluster',
      execution: event.detail.executionArn,
      status: 'TIMED_OUT',
    });
    // Every workflow's rule starts recover, but recover's own: a recovery that cannot succeed must not loop.
    expect(routes).toHaveLength(CLUSTER_WORKFLOWS.length - 1);
    const recoverArn = `arn:aws:states:us-east-1:123456789012:stateMachine:${stateMachineLogicalId(stack, 'recover')}`;
    expect(routes.some((candidate) => JSON.stringify(candidate.pattern).includes(recoverArn))).toBe(false);
  });
});
