import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

export const OUTCOMES = ['started', 'step', 'succeeded', 'failed', 'rolled-back', 'recovered'] as const;

export interface WorkflowEvent {
  readonly workflow: string;
  readonly cluster: string;
  readonly step: string;
  readonly outcome: (typeof OUTCOMES)[number];
  readonly execution?: string;
  readonly detail?: unknown;
  readonly error?: { readonly name: string; readonly cause?: string };
}

const SUBJECT_LIMIT = 100;

/**
 * Publishes a structured workflow event. Subscribers can filter on the cluster, workflow and outcome attributes.
 * Delivery is at least once: a retried step may publish the same event twice.
 */
export async function publishEvent(
  sns: SNSClient,
  topicArn: string,
  event: WorkflowEvent,
  now: () => Date = () => new Date(),
): Promise<{ messageId: string; at: string }> {
  const at = now().toISOString();
  const response = await sns.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: `zerodown ${event.cluster}: ${event.workflow} ${event.outcome}`.slice(0, SUBJECT_LIMIT),
      Message: JSON.stringify({ ...event, at }),
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: event.cluster },
        workflow: { DataType: 'String', StringValue: event.workflow },
        outcome: { DataType: 'String', StringValue: event.outcome },
      },
    }),
  );
  return { messageId: response.MessageId ?? '', at };
}
