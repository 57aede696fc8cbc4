import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { dynamodbClient } from '../functions/aws/clients/dynamodb';

/** The lock table as ZeroDownCluster defines it. */
export async function createLockTable(tableName = 'zerodown-locks'): Promise<string> {
  await dynamodbClient.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'lockId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'lockId', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return tableName;
}

/**
 * A RUNNING execution in moto's Step Functions, standing for a maintenance workflow that a failover pre-empts. moto
 * records executions without running them, which is all a StopExecution test needs.
 */
export async function startMotoExecution(stateMachineName: string, executionName: string): Promise<string> {
  const role = await new IAMClient({}).send(
    new CreateRoleCommand({ RoleName: `${stateMachineName}-role`.slice(0, 64), AssumeRolePolicyDocument: '{}' }),
  );
  const sfn = new SFNClient({});
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: stateMachineName,
      roleArn: role.Role?.Arn ?? '',
      definition: JSON.stringify({ StartAt: 'Hold', States: { Hold: { Type: 'Wait', Seconds: 3600, End: true } } }),
    }),
  );
  const execution = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn ?? '', name: executionName }),
  );
  return execution.executionArn ?? '';
}
