import { ListTopicsCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { snsClient } from '../../functions/aws/clients/sns';

/**
 * What the workflows publish to every topic from now on, read through a queue subscribed to each: the reader returns
 * the events that arrived, reading `reads` times (a second each at most), so late publications are not missed.
 */
export async function topicEvents(reads = 3): Promise<() => Promise<Record<string, unknown>[]>> {
  const sqs = new SQSClient({});
  const { Topics = [] } = await snsClient.send(new ListTopicsCommand({}));
  const queue = await sqs.send(
    new CreateQueueCommand({ QueueName: `operator-${Topics.length}-${Date.now()}-${process.pid}` }),
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  for (const topic of Topics) {
    await snsClient.send(
      new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: 'sqs', Endpoint: Attributes?.QueueArn }),
    );
  }
  return async () => {
    const events: Record<string, unknown>[] = [];
    for (let read = 0; read < reads; read++) {
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      events.push(...(received.Messages ?? []).map((message) => JSON.parse(JSON.parse(message.Body ?? '{}').Message)));
    }
    return events;
  };
}
