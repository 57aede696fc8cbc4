import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { snsClient } from '../../../functions/aws/clients/sns';
import { publishEvent } from '../../../functions/aws/sns';
import { useMoto } from '../../harness/moto';

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
        error: { name: 'CommandFailedError', cause: 'exit 2' },
      },
      () => new Date('2026-11-25T10:00:00Z'),
    );

    // Assess
    expect(published.messageId).not.toBe('');
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, WaitTimeSeconds: 1 }));
    const envelope = JSON.parse(received.Messages?.[0]?.Body ?? '{}');
    expect(envelope.Subject).toBe('zerodown apim-prod: patch-server rolled-back');
    expect(JSON.parse(envelope.Message)).toEqual({
      workflow: 'patch-server',
      cluster: 'apim-prod',
      step: 'Patch passive node',
      outcome: 'rolled-back',
      error: { name: 'CommandFailedError', cause: 'exit 2' },
      at: '2026-11-25T10:00:00.000Z',
    });
    expect(envelope.MessageAttributes.outcome).toEqual({ Type: 'String', Value: 'rolled-back' });
  });
});
