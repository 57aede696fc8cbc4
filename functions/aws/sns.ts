import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/** `attention`: nothing failed, but something needs an operator (a node that answers and sends no heartbeat). */
export const OUTCOMES = ['started', 'step', 'succeeded', 'failed', 'rolled-back', 'recovered', 'attention'] as const;

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

/** The Step Functions console page of an execution, in the execution's own region. */
export function consoleLinkOf(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * A subject a person reads in a mail or a pager: cluster, workflow, what happened and at which step. SNS allows
 * printable ASCII only, and at most 100 characters.
 */
export function subjectOf(event: WorkflowEvent): string {
  const said: Record<WorkflowEvent['outcome'], string> = {
    started: 'started',
    step: 'progress',
    succeeded: 'succeeded',
    failed: 'FAILED',
    'rolled-back': 'FAILED and rolled back',
    recovered: 'recovered',
    attention: 'needs attention',
  };
  const text = `zerodown ${event.cluster}: ${event.workflow} ${said[event.outcome]} - ${event.step}`;
  const printable = text.replace(/[^\x20-\x7e]/g, ' ');
  return printable.length > SUBJECT_LIMIT ? `${printable.slice(0, SUBJECT_LIMIT - 3)}...` : printable;
}

/**
 * Publishes a structured workflow event, with a subject a person can read and the execution's console link.
 * Subscribers can filter on the cluster, workflow and outcome attributes. Delivery is at least once: a retried step
 * may publish the same event twice.
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
      Subject: subjectOf(event),
      Message: JSON.stringify({
        summary: subjectOf(event),
        ...(event.execution ? { console: consoleLinkOf(event.execution) } : {}),
        ...event,
        at,
      }),
      MessageAttributes: {
        cluster: { DataType: 'String', StringValue: event.cluster },
        workflow: { DataType: 'String', StringValue: event.workflow },
        outcome: { DataType: 'String', StringValue: event.outcome },
      },
    }),
  );
  return { messageId: response.MessageId ?? '', at };
}
