import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { snsClient } from '../../../functions/aws/clients/sns';
import { publishEvent, subjectOf } from '../../../functions/aws/sns';
import { useMoto } from '../../harness/moto';

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:zerodown-apim-prod-patch-server:p-1';

describe('publishEvent', () => {
  useMoto();

  it('publishes a structured event that subscribers can filter by cluster, workflow and outcome', async () => {
    // Prepare: an SQS queue subscribed to the topic stands for the operator's subscription.
    const sqs = new SQSClient({});
    const topic = await snsClient.send(new CreateTopicCommand({ Name: 'zerodown-events' }));
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'operator' }));
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await snsClient.send(
      new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: 'sqs', Endpoint: attributes.Attributes?.QueueArn }),
    );

    // Act
    const published = await publishEvent(
      snsClient,
      topic.TopicArn ?? '',
      {
        workflow: 'patch-server',
        cluster: 'apim-prod',
        step: 'Patch passive node',
        outcome: 'rolled-back',
        execution: EXECUTION,
        error: { name: 'CommandFailedError', cause: 'exit 2' },
      },
      () => new Date('2026-11-25T10:00:00Z'),
    );

    // Assess
    expect(published.messageId).not.toBe('');
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 1 }));
    const envelope = JSON.parse(received.Messages?.[0]?.Body ?? '{}');
    // A person reads the subject; the message links the execution in its own region's console.
    expect(envelope.Subject).toBe('zerodown apim-prod: patch-server FAILED and rolled back - Patch passive node');
    expect(JSON.parse(envelope.Message)).toEqual({
      summary: 'zerodown apim-prod: patch-server FAILED and rolled back - Patch passive node',
      console: `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`,
      execution: EXECUTION,
      workflow: 'patch-server',
      cluster: 'apim-prod',
      step: 'Patch passive node',
      outcome: 'rolled-back',
      error: { name: 'CommandFailedError', cause: 'exit 2' },
      at: '2026-11-25T10:00:00.000Z',
    });
    expect(envelope.MessageAttributes.outcome).toEqual({ Type: 'String', Value: 'rolled-back' });
  });

  it('keeps a subject within what SNS accepts: printable ASCII, at most 100 characters', () => {
    const subject = subjectOf({
      workflow: 'failover',
      cluster: 'apim-prod',
      step: `Traffic moved off the lost node\n${'é'.repeat(200)}`,
      outcome: 'attention',
    });
    expect(subject).toHaveLength(100);
    expect(subject).toMatch(
      /^zerodown apim-prod: failover needs attention - Traffic moved off the lost node [ ]+\.\.\.$/,
    );
  });
});
