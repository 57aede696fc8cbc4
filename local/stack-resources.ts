import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { dynamodbClient } from '../functions/aws/clients/dynamodb';
import { snsClient } from '../functions/aws/clients/sns';
import { ssmClient } from '../functions/aws/clients/ssm';
import type { SynthesizedStack } from './synth';
import { resourcesOfType } from './template';

interface KeySchema {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}

/**
 * Creates a stack's stateful resources in moto under the names the local runner gives them (their logical ids),
 * so the handlers find the lock table and topic the template wires them to, and the parameters that name a table,
 * so the CLI finds the lock table as it does on AWS.
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
  const tableIds = new Set(tables.map(([logicalId]) => logicalId));
  for (const [, parameter] of resourcesOfType(stack.template, 'AWS::SSM::Parameter')) {
    const { Name: name, Value: value } = (parameter.Properties ?? {}) as { Name?: unknown; Value?: { Ref?: unknown } };
    const table = typeof value === 'object' && value !== null ? value.Ref : undefined;
    if (typeof name !== 'string' || typeof table !== 'string' || !tableIds.has(table)) continue;
    await ssmClient.send(new PutParameterCommand({ Name: name, Value: table, Type: 'String', Overwrite: true }));
  }
  for (const [logicalId] of resourcesOfType(stack.template, 'AWS::SNS::Topic')) {
    await snsClient.send(new CreateTopicCommand({ Name: logicalId }));
  }
}
