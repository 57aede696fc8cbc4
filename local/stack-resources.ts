import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { dynamodbClient } from '../functions/aws/clients/dynamodb';
import { snsClient } from '../functions/aws/clients/sns';
import type { SynthesizedStack } from './synth';
import { resourcesOfType } from './template';

interface KeySchema {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}

/**
 * Creates a stack's stateful resources in moto under the names the local runner gives them (their logical ids),
 * so the handlers find the lock table and topic the template wires them to.
 */
export async function provisionStackResources(stack: SynthesizedStack): Promise<void> {
  const tables = [
    ...resourcesOfType(stack.template, 'AWS::DynamoDB::GlobalTable'),
    ...resourcesOfType(stack.template, 'AWS::DynamoDB::Table'),
  ];
  for (const [logicalId, table] of tables) {
    const properties = table.Properties ?? {};
    await dynamodbClient.send(
      new CreateTableCommand({
        TableName: logicalId,
        KeySchema: properties.KeySchema as KeySchema[],
        AttributeDefinitions: properties.AttributeDefinitions as { AttributeName: string; AttributeType: 'S' }[],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  for (const [logicalId] of resourcesOfType(stack.template, 'AWS::SNS::Topic')) {
    await snsClient.send(new CreateTopicCommand({ Name: logicalId }));
  }
}
