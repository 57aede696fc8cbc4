import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { sfnClient } from '../../functions/aws/clients/sfn';
import { dynamoDbLockStore } from '../../functions/aws/dynamodb';
import { findSurgeNodes } from '../../functions/aws/ec2';
import { readWeights } from '../../functions/aws/elbv2';
import { stepFunctionsExecutions } from '../../functions/aws/sfn';
import { acquireLock, type RecoveryRecord, readLock, renewLock } from '../../functions/domain/lock';
import { describeWeights, isWeighted } from '../../functions/domain/weights';
import type { FakeNode } from '../../local/fake-nodes';
import { type LocalExecutionOptions, type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import { createMotoCluster, type MotoCluster, type MotoClusterOptions } from '../../local/moto-cluster';
import { startMotoExecution } from '../../local/moto-resources';
import { type SentCommand, simulateNodes } from '../../local/simulated-nodes';
import { provisionStackResources } from '../../local/stack-resources';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from './synth';
import { TEST_CLUSTER_STACK } from './test-app';

/**
 * Runs one of the test cluster's workflows locally against a moto cluster with simulated nodes. Use inside a
 * describe block that calls useMoto(), useFaults() and useFakeNodes().
 */
export function workflowFixture(options: {
  /** The workflow, such as `patch-server`. */
  stateMachine: string;
  defaultInput: Record<string, unknown>;
  onCommand: (command: SentCommand, node: FakeNode) => string | undefined;
}) {
  const stack = () => synthesizedApp().stack(TEST_CLUSTER_STACK);
  const lockStore = () => {
    const [table] = resourcesOfType(stack().template, 'AWS::DynamoDB::GlobalTable');
    return dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: table?.[0] ?? '' });
  };

  async function prepare(topology: 'active-passive' | 'active-active', clusterOptions: MotoClusterOptions = {}) {
    const cluster = await createMotoCluster({ ...clusterOptions, topology });
    await provisionStackResources(stack());
    const simulated = await simulateNodes(cluster, { version: '1.0.0', onCommand: options.onCommand });
    return { cluster, simulated };
  }

  function run(input: Record<string, unknown>, onEvent?: LocalExecutionOptions['onEvent']) {
    return runLocally({
      stack: stack(),
      stateMachine: options.stateMachine,
      input: { cluster: 'test-cluster', ...options.defaultInput, ...input },
      timeScale: 0.001,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  async function weights(cluster: MotoCluster) {
    if (!isWeighted(cluster.model)) throw new Error('weighted cluster expected');
    return describeWeights(await readWeights(elbv2Client, cluster.model));
  }

  /** The weights as given, no surge node left running, and the lock free. */
  async function expectCleanCluster(cluster: MotoCluster, expectedWeights: string) {
    expect(await weights(cluster)).toBe(expectedWeights);
    expect(await findSurgeNodes(ec2Client, cluster.model)).toEqual([]);
    expect(await readLock(lockStore(), cluster.model.name)).toBeUndefined();
  }

  function failureOf(execution: LocalExecutionResult) {
    return { status: execution.status, error: execution.error, cause: execution.cause };
  }

  /**
   * The test cluster's lock, held by a RUNNING execution of `workflow` (in moto, which stands for any execution the
   * lock asks about). Answers the holder's execution ARN.
   */
  /** A running execution of `workflow` holds the lock, with the recovery record it wrote at its last fence. */
  async function holdLock(
    workflow: string,
    executionName: string,
    recovery?: Omit<RecoveryRecord, 'execution' | 'workflow'>,
  ): Promise<string> {
    const owner = await startMotoExecution(`zerodown-test-cluster-${workflow}`, executionName);
    const executions = stepFunctionsExecutions(sfnClient);
    const lease = { cluster: 'test-cluster', owner, workflow, leaseSeconds: 3600 };
    await acquireLock(lockStore(), executions, lease);
    if (recovery) await renewLock(lockStore(), { ...lease, recovery });
    return owner;
  }

  return { stack, lockStore, holdLock, prepare, run, weights, expectCleanCluster, failureOf };
}
