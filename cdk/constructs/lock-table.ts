import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { stateMachineNameOf, type WorkflowName } from '../../functions/domain/workflows';
import { acknowledgeWildcardResource } from '../nag';
import { allow, roleOf } from './launch-permissions';

/** A lock table as the DynamoDB lock store reads it (functions/aws/dynamodb.ts): one item per lock, by `lockId`. */
export function createLockTable(scope: Construct, id: string, removalPolicy: RemovalPolicy): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, id, {
    partitionKey: { name: 'lockId', type: dynamodb.AttributeType.STRING },
    billing: dynamodb.Billing.onDemand(),
    // Expired leases are taken over by a conditional write; TTL only sweeps the leftovers.
    timeToLiveAttribute: 'expiresAtEpochSeconds',
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
    removalPolicy,
  });
}

/**
 * What the cluster-lock function needs: the lock item's reads and conditional writes, and asking whether a holder's
 * execution still runs and stopping one a failover pre-empts, for the named workflows' state machines only. Each is
 * named exactly: a name prefix would also match the workflows of a cluster named `<cluster>-prod`.
 */
export function grantLock(
  fn: lambda.IFunction,
  table: dynamodb.ITableV2,
  clusterName: string,
  workflows: readonly WorkflowName[],
): void {
  table.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  const executions = workflows.map((workflow) =>
    Stack.of(fn).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineNameOf(clusterName, workflow)}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  );
  allow(fn, ['states:DescribeExecution', 'states:StopExecution'], executions);
  for (const arn of executions) {
    acknowledgeWildcardResource(
      roleOf(fn),
      arn,
      'Execution names are chosen at start; the lock asks whether a holder of this workflow still runs, and a failover stops one it pre-empts.',
    );
  }
}
