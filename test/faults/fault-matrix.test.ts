import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2ServiceException } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SSMServiceException } from '@aws-sdk/client-ssm';
import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { ec2Client } from '../../functions/aws/clients/ec2';
import { elbv2Client } from '../../functions/aws/clients/elbv2';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { readWeights } from '../../functions/aws/elbv2';
import { isWeighted } from '../../functions/domain/weights';
import type { MaintenanceWorkflow } from '../../functions/domain/workflows';
import {
  crashAfterWrite,
  type FaultableClient,
  injectError,
  throttlingError,
  unhealthyTarget,
} from '../../local/faults';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import type { MotoCluster } from '../../local/moto-cluster';
import type { SimulatedNodes } from '../../local/simulated-nodes';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';
import { violatedInvariants } from './invariants';

/**
 * The fault matrix: every maintenance workflow, stopped at a spread of its states, hit by a throttle on every
 * mutating call, by a Lambda that dies right after its write, by a second start at once, and by a failover. After
 * each, whatever cleans up (its own rollback, `recover` started by the status rule, or the next workflow taking the
 * dead lock over) must leave the cluster inside every invariant of ./invariants.ts.
 *
 * Stops land inside a named Task (its handler never returns), so they hit the same state however busy the machine
 * is. moto cannot throttle or crash; those faults are SDK middleware, as local/faults.ts explains.
 */

interface WorkflowCase {
  readonly workflow: MaintenanceWorkflow;
  readonly topology: 'active-passive' | 'active-active';
  readonly input: Record<string, unknown>;
  /** Task states to stop the workflow in, spread over its steps. */
  readonly stopIn: readonly string[];
}

const ARTIFACT = 's3://apim-artifacts/orders-api/1.4.1/orders-api.car';
const CASES: readonly WorkflowCase[] = [
  {
    workflow: 'patch-server',
    topology: 'active-passive',
    input: { patchId: 'P42' },
    stopIn: [
      'Check whether the surge node is ready',
      'Check the patch of the passive node',
      'Verify the patched node under traffic',
      'Check the patch of the other node',
      'Check whether the surge node is terminated',
    ],
  },
  {
    workflow: 'patch-server',
    topology: 'active-active',
    input: { patchId: 'P42' },
    stopIn: [
      'Verify the surge node',
      'Check the patch of the node in turn',
      'Verify the node back in service under traffic',
    ],
  },
  {
    workflow: 'upgrade-version',
    topology: 'active-passive',
    input: { version: '2.0.0' },
    stopIn: ['Check the migrations', 'Check the upgrade of the passive node', 'Check the upgrade of the other node'],
  },
  {
    workflow: 'deploy-service',
    topology: 'active-passive',
    input: { artifact: ARTIFACT, service: 'orders-api' },
    stopIn: ['Check the deployment on the manager node', 'Check the smoke test of the worker'],
  },
  {
    workflow: 'update-service',
    topology: 'active-passive',
    input: { artifact: ARTIFACT, service: 'orders-api' },
    stopIn: [
      'Check the pause of file sync',
      'Check the smoke test of the manager node',
      'Verify the updated manager node under traffic',
      'Check the resumption of file sync',
      'Check the smoke test of the worker',
    ],
  },
];

/** Every call that changes the cluster or the lock, by client: each is throttled once past the SDK's own retries. */
const MUTATING_CALLS: readonly [FaultableClient, () => Error, readonly string[]][] = [
  [
    elbv2Client,
    throttlingError(ElasticLoadBalancingV2ServiceException),
    ['ModifyListenerCommand', 'ModifyRuleCommand', 'RegisterTargetsCommand', 'DeregisterTargetsCommand'],
  ],
  [ec2Client, throttlingError(EC2ServiceException), ['RunInstancesCommand', 'TerminateInstancesCommand']],
  [ssmClient, throttlingError(SSMServiceException), ['SendCommandCommand']],
  [
    dynamodbClient,
    throttlingError(DynamoDBServiceException),
    ['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'],
  ],
];

const CRASHING_WRITES: readonly [FaultableClient, string][] = [
  [ec2Client, 'RunInstancesCommand'],
  [ssmClient, 'SendCommandCommand'],
  [elbv2Client, 'ModifyListenerCommand'],
];

describe('fault matrix', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const sync = { paused: false };
  const { stack, lockStore, prepare } = workflowFixture({
    stateMachine: 'patch-server',
    defaultInput: {},
    onCommand: (command, node) => {
      if (command.documentName === 'zerodown-test-patch') node.version = '1.0.0-P42';
      if (command.documentName === 'zerodown-test-upgrade') node.version = command.parameters.TargetVersion?.[0] ?? '';
      if (command.documentName === 'zerodown-test-sync') sync.paused = command.parameters.Action?.[0] === 'pause';
      return undefined;
    },
  });
  beforeEach(() => {
    sync.paused = false;
  });

  function run(
    workflow: string,
    input: Record<string, unknown>,
    options: Pick<Parameters<typeof runLocally>[0], 'stopInside' | 'taskOverrides' | 'executionTimeoutSeconds'> = {},
  ): Promise<LocalExecutionResult> {
    return runLocally({
      stack: stack(),
      stateMachine: workflow,
      input: { cluster: 'test-cluster', ...input },
      timeScale: 0.001,
      ...options,
    });
  }

  /** What the status rule does for an execution that ended ABORTED, TIMED_OUT or FAILED. */
  async function recoverFrom(ended: LocalExecutionResult) {
    const recovery = await run('recover', { execution: ended.executionArn, status: ended.status });
    expect(recovery.status).toBe('SUCCEEDED');
    return recovery;
  }

  /** Why sync is still paused, as a workflow's rollback or a recovery reported it. */
  function reasonOf(...executions: (LocalExecutionResult | undefined)[]): string | undefined {
    for (const execution of executions) {
      for (const event of [...(execution?.events ?? [])].reverse()) {
        if (event.type !== 'StateExited' || !('state' in event)) continue;
        type Told = { syncLeftPaused?: { reason?: string } };
        const output = event.state.output as { recovering?: Told; rollback?: Told } | undefined;
        const reason = output?.recovering?.syncLeftPaused?.reason ?? output?.rollback?.syncLeftPaused?.reason;
        if (reason) return reason;
      }
    }
    return undefined;
  }

  async function expectInvariants(cluster: MotoCluster, ...reportedBy: (LocalExecutionResult | undefined)[]) {
    const reportedReason = reasonOf(...reportedBy);
    expect(
      await violatedInvariants(cluster, lockStore(), {
        paused: sync.paused,
        ...(reportedReason ? { reportedReason } : {}),
      }),
    ).toEqual([]);
  }

  /** Runs the workflow and stops it inside `state`, as StopExecution would. */
  async function stopIn(testCase: WorkflowCase, state: string) {
    const execution = await run(testCase.workflow, testCase.input, { stopInside: state });
    expect(execution.status).toBe('ABORTED');
    return execution;
  }

  const label = (testCase: WorkflowCase) => `${testCase.workflow} (${testCase.topology})`;
  const stops = CASES.flatMap((testCase) =>
    testCase.stopIn.map((state, index) => [label(testCase), state, testCase, index] as const),
  );

  it.each(stops)('%s stopped in "%s" is recovered inside every invariant', async (_label, state, testCase, index) => {
    const { cluster } = await prepare(testCase.topology);
    const stopped = await stopIn(testCase, state);

    // Half the stops are recovered by the status rule's `recover`, half by the next run taking the dead lock over.
    if (index % 2 === 0) {
      await expectInvariants(cluster, await recoverFrom(stopped));
    } else {
      const next = await run(testCase.workflow, testCase.input);
      expect(next.status).toBe('SUCCEEDED');
      expect(next.path).toContain('Recover: begin');
      await expectInvariants(cluster, next);
    }
  });

  it.each(CASES.map((testCase) => [label(testCase), testCase] as const))(
    '%s that reaches its execution timeout midway is recovered inside every invariant',
    async (_label, testCase) => {
      const { cluster } = await prepare(testCase.topology);
      // A step midway never answers (a command that hangs, a node that never comes back), so the execution timeout
      // ends the run there at the latest (sooner on a busy machine: any state is a fair place for it to strike).
      // Step Functions runs no Catch on a timeout.
      const midway = testCase.stopIn[Math.floor(testCase.stopIn.length / 2)] ?? '';
      const timedOut = await run(testCase.workflow, testCase.input, {
        executionTimeoutSeconds: 3,
        taskOverrides: { [midway]: () => new Promise(() => {}) },
      });

      expect(timedOut.status).toBe('TIMED_OUT');
      await expectInvariants(cluster, await recoverFrom(timedOut));
    },
  );

  it.each(CASES.map((testCase) => [label(testCase), testCase] as const))(
    '%s succeeds through a throttle on every mutating call, inside every invariant',
    async (_label, testCase) => {
      const { cluster } = await prepare(testCase.topology);
      const faults = MUTATING_CALLS.flatMap(([client, error, commands]) =>
        commands.map((command) => injectError(client, command, error, { times: 1, sdkRetriesExhausted: true })),
      );

      const execution = await run(testCase.workflow, testCase.input);

      expect(execution.status).toBe('SUCCEEDED');
      expect(faults.filter((fault) => fault.hits > 0).length).toBeGreaterThan(0);
      await expectInvariants(cluster);
    },
  );

  it.each(
    CASES.flatMap((testCase) =>
      CRASHING_WRITES.map(([client, command]) => [label(testCase), command, testCase, client] as const),
    ),
  )('%s whose Lambda dies right after %s ends inside every invariant', async (_label, command, testCase, client) => {
    const { cluster } = await prepare(testCase.topology);
    const crash = crashAfterWrite(client, command);

    const execution = await run(testCase.workflow, testCase.input);
    crash.remove();

    if (crash.hits === 0) {
      // The workflow makes no such call (deploy-service launches no surge node): it is unaffected.
      expect(execution.status).toBe('SUCCEEDED');
    } else {
      expect(execution.status).toBe('FAILED');
      expect(execution.error).toBe('Runtime.ExitError');
    }
    const recovery = execution.status === 'FAILED' ? await recoverFrom(execution) : undefined;
    await expectInvariants(cluster, recovery, execution);
  });

  it.each(CASES.map((testCase) => [label(testCase), testCase] as const))(
    '%s started twice at once runs once and leaves the cluster inside every invariant',
    async (_label, testCase) => {
      const { cluster } = await prepare(testCase.topology);

      const both = await Promise.all([run(testCase.workflow, testCase.input), run(testCase.workflow, testCase.input)]);

      expect(both.map((execution) => execution.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
      expect(both.find((execution) => execution.status === 'FAILED')?.error).toBe('ClusterLockedError');
      await expectInvariants(cluster);
    },
  );

  it.each(CASES.map((testCase) => [label(testCase), testCase] as const))(
    '%s interrupted by a failover leaves the cluster inside every invariant',
    async (_label, testCase) => {
      const { cluster, simulated } = await prepare(testCase.topology);
      let failover: Promise<LocalExecutionResult> | undefined;
      // Midway through, a node that carries traffic dies and its alarm starts a failover, which pre-empts the
      // workflow. (A node without traffic would be the workflow's own to restart: failover leaves it alone.)
      const midway = testCase.stopIn[Math.floor(testCase.stopIn.length / 2)] ?? '';
      const maintenance = await run(testCase.workflow, testCase.input, {
        taskOverrides: {
          [midway]: async () => {
            const serving = (await readWeights(elbv2Client, weighted(cluster))).find((slot) => slot.weight > 0);
            const lost = cluster.model.nodes.find((node) => node.slot === serving?.slot);
            kill(simulated, lost?.instanceId ?? '');
            failover = run('failover', {
              slot: lost?.slot,
              alarmName: 'heartbeat',
              detectedAt: new Date().toISOString(),
            });
            return new Promise(() => {});
          },
        },
      });

      expect(maintenance.status).toBe('ABORTED');
      const failedOver = await failover;
      expect(failedOver?.status).toBe('SUCCEEDED');
      await expectInvariants(cluster, failedOver);
    },
  );
});

/** The node stops answering, and the load balancer sees its target fail too. */
function kill(simulated: SimulatedNodes, instanceId: string) {
  const node = simulated.nodes.get(instanceId);
  if (node) node.healthStatus = 503;
  unhealthyTarget(instanceId);
}

function weighted(cluster: MotoCluster) {
  if (!isWeighted(cluster.model)) throw new Error('the fault matrix runs on weighted clusters');
  return cluster.model;
}
