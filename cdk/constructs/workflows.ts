import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CLUSTER_WORKFLOWS, type ClusterWorkflow, WORKFLOWS } from '../../functions/domain/workflows';
import { deployServiceDefinition } from '../../statemachines/deploy-service';
import { failoverDefinition } from '../../statemachines/failover';
import { PATCH_SERVER, rolloutDefinition, UPGRADE_VERSION } from '../../statemachines/rollout';
import { updateServiceDefinition } from '../../statemachines/update-service';
import { DEFAULT_TIMING, type DefinitionOptions, type WorkflowTiming } from '../../statemachines/workflow-builder';
import type { NodeOperations } from './node-operations';
import { WorkflowStateMachine } from './workflow-state-machine';

/** How long a workflow execution may run before Step Functions ends it. */
export const DEFAULT_WORKFLOW_TIMEOUT = Duration.hours(6);

export interface WorkflowsProps {
  readonly clusterName: string;
  readonly operations: NodeOperations;
  readonly logGroup: logs.ILogGroup;
  /** @default DEFAULT_WORKFLOW_TIMEOUT, 6 hours */
  readonly timeout?: Duration;
  /** @default DEFAULT_TIMING: 10 s polls, 15 min for a node to be ready */
  readonly timing?: WorkflowTiming;
}

/**
 * The cluster's workflows as Standard state machines named `zerodown-<cluster>-<workflow>`. Grant operators, the
 * CLI or a pipeline the right to run one with its `grantStartExecution`.
 */
type Definition = (scope: Construct, options: DefinitionOptions) => sfn.IChainable;

export class Workflows extends Construct {
  public readonly patchServer: sfn.StateMachine;
  public readonly upgradeVersion: sfn.StateMachine;
  public readonly deployService: sfn.StateMachine;
  public readonly updateService: sfn.StateMachine;
  /** Started by the node alarms; see NodeAlarms. */
  public readonly failover: sfn.StateMachine;
  /** Every workflow's state machine, by workflow name. */
  public readonly byName: Readonly<Record<ClusterWorkflow, sfn.StateMachine>>;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const timeout = props.timeout ?? DEFAULT_WORKFLOW_TIMEOUT;
    const executionTimeoutSeconds = timeout.toSeconds();
    // The lease outlives any execution, so a running workflow never has to renew it.
    const leaseSeconds = executionTimeoutSeconds + 600;
    const timing = props.timing ?? DEFAULT_TIMING;
    const ops = props.operations;
    // The compiler checks that every workflow of the cluster's stack in the registry has its definition here.
    const definitions = {
      'patch-server': (scope, options) => rolloutDefinition(scope, ops, { wording: PATCH_SERVER, ...options }),
      'upgrade-version': (scope, options) => rolloutDefinition(scope, ops, { wording: UPGRADE_VERSION, ...options }),
      'deploy-service': (scope, options) => deployServiceDefinition(scope, ops, options),
      'update-service': (scope, options) => updateServiceDefinition(scope, ops, options),
      failover: (scope, options) => failoverDefinition(scope, ops, options),
    } satisfies Record<ClusterWorkflow, Definition>;
    // Each definition lives in its own scope: state names repeat between workflows, construct ids may not.
    const machine = (workflow: ClusterWorkflow) => {
      const { constructId } = WORKFLOWS[workflow];
      return new WorkflowStateMachine(this, constructId, {
        workflow,
        clusterName: props.clusterName,
        definition: definitions[workflow](new Construct(this, `${constructId}Definition`), {
          timing,
          leaseSeconds,
          executionTimeoutSeconds,
        }),
        logGroup: props.logGroup,
        timeout,
        lambdaFunctions: ops.all,
      }).stateMachine;
    };
    this.byName = {
      'patch-server': machine('patch-server'),
      'upgrade-version': machine('upgrade-version'),
      'deploy-service': machine('deploy-service'),
      'update-service': machine('update-service'),
      failover: machine('failover'),
    };
    for (const workflow of CLUSTER_WORKFLOWS) {
      this.reportEndsWithoutCatch(props.clusterName, workflow, this.byName[workflow], ops.notify);
    }
    this.patchServer = this.byName['patch-server'];
    this.upgradeVersion = this.byName['upgrade-version'];
    this.deployService = this.byName['deploy-service'];
    this.updateService = this.byName['update-service'];
    this.failover = this.byName.failover;
  }

  /**
   * An execution that is stopped, times out, or fails outside its Catch runs none of its own steps again, so it
   * cannot report. Step Functions' status events go to the notify function instead, which tells the cluster's topic
   * how the execution ended. The next workflow takes its lock over at once (see the cluster lock).
   */
  private reportEndsWithoutCatch(
    clusterName: string,
    workflow: ClusterWorkflow,
    stateMachine: sfn.IStateMachine,
    notify: lambda.IFunction,
  ): void {
    new events.Rule(this, `${WORKFLOWS[workflow].constructId}Ended`, {
      description: `zerodown ${clusterName}: report a ${workflow} execution that ended aborted, timed out or failed`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: [...ENDED_WITHOUT_SUCCESS], stateMachineArn: [stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(notify, {
          event: events.RuleTargetInput.fromObject({
            cluster: clusterName,
            workflow,
            step: ENDED_STEP,
            outcome: 'failed',
            execution: events.EventField.fromPath('$.detail.executionArn'),
            detail: {
              status: events.EventField.fromPath('$.detail.status'),
              error: events.EventField.fromPath('$.detail.error'),
              cause: events.EventField.fromPath('$.detail.cause'),
            },
          }),
          retryAttempts: 10,
          maxEventAge: Duration.hours(1),
        }),
      ],
    });
  }
}

/** The statuses of an execution that may have ended without its own rollback and report. */
export const ENDED_WITHOUT_SUCCESS = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;
/** The step an ended execution's report names. */
export const ENDED_STEP = 'The execution ended; if it ran no rollback, check the weights, surge nodes and file sync';
