import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { MAX_DRAIN_SECONDS } from '../../functions/domain/cluster-model';
import { MAX_BAKE_SECONDS } from '../../functions/domain/plans/shift-stages';
import { CLUSTER_WORKFLOWS, type ClusterWorkflow, WORKFLOWS } from '../../functions/domain/workflows';
import { deployServiceDefinition } from '../../statemachines/deploy-service';
import { failoverDefinition } from '../../statemachines/failover';
import { recoverDefinition } from '../../statemachines/recover';
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
  /** Where EventBridge puts a status event it could not deliver to the report or the recovery. */
  readonly deadLetters: sqs.IQueue;
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
  /** Started when another workflow's execution ends without its rollback, or by hand. */
  public readonly recover: sfn.StateMachine;
  /** Every workflow's state machine, by workflow name. */
  public readonly byName: Readonly<Record<ClusterWorkflow, sfn.StateMachine>>;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const timeout = props.timeout ?? DEFAULT_WORKFLOW_TIMEOUT;
    const executionTimeoutSeconds = timeout.toSeconds();
    const timing = props.timing ?? DEFAULT_TIMING;
    const leaseSeconds = lockLeaseSeconds(timing);
    const ops = props.operations;
    // The compiler checks that every workflow of the cluster's stack in the registry has its definition here.
    const definitions = {
      'patch-server': (scope, options) => rolloutDefinition(scope, ops, { wording: PATCH_SERVER, ...options }),
      'upgrade-version': (scope, options) => rolloutDefinition(scope, ops, { wording: UPGRADE_VERSION, ...options }),
      'deploy-service': (scope, options) => deployServiceDefinition(scope, ops, options),
      'update-service': (scope, options) => updateServiceDefinition(scope, ops, options),
      failover: (scope, options) => failoverDefinition(scope, ops, options),
      recover: (scope, options) => recoverDefinition(scope, ops, options),
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
      recover: machine('recover'),
    };
    for (const workflow of CLUSTER_WORKFLOWS) {
      this.reportEndsWithoutCatch(props, workflow, this.byName[workflow], this.byName.recover);
      this.reportStarts(props, workflow, this.byName[workflow]);
    }
    this.patchServer = this.byName['patch-server'];
    this.upgradeVersion = this.byName['upgrade-version'];
    this.deployService = this.byName['deploy-service'];
    this.updateService = this.byName['update-service'];
    this.failover = this.byName.failover;
    this.recover = this.byName.recover;
  }

  /**
   * An execution that is stopped, times out, or fails outside its Catch runs none of its own steps again, so it
   * cannot report or clean up. Step Functions' status events go to the notify function, which tells the cluster's
   * topic how the execution ended, and start `recover`, which puts the cluster back from the record the execution
   * kept next to its lock. A failed execution that did run its rollback leaves nothing behind, and its recovery
   * changes nothing. A recover execution that ends badly is reported, not recovered again, so a recovery that
   * cannot succeed never loops; the next workflow (or an operator's recover) takes its lock over at once.
   */
  private reportEndsWithoutCatch(
    props: WorkflowsProps,
    workflow: ClusterWorkflow,
    stateMachine: sfn.IStateMachine,
    recover: sfn.IStateMachine,
  ): void {
    const { clusterName, deadLetters } = props;
    const notify = props.operations.notify;
    const recoverTarget =
      workflow === 'recover'
        ? []
        : [
            new targets.SfnStateMachine(recover, {
              input: events.RuleTargetInput.fromObject({
                cluster: clusterName,
                execution: events.EventField.fromPath('$.detail.executionArn'),
                status: events.EventField.fromPath('$.detail.status'),
              }),
              retryAttempts: 10,
              maxEventAge: Duration.hours(1),
              deadLetterQueue: deadLetters,
            }),
          ];
    new events.Rule(this, `${WORKFLOWS[workflow].constructId}Ended`, {
      description: `zerodown ${clusterName}: report and recover a ${workflow} execution that ended aborted, timed out or failed`,
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
          deadLetterQueue: deadLetters,
        }),
        ...recoverTarget,
      ],
    });
  }

  /** Every execution's start is reported as it happens, from Step Functions' own status event: no step of its own. */
  private reportStarts(props: WorkflowsProps, workflow: ClusterWorkflow, stateMachine: sfn.IStateMachine): void {
    new events.Rule(this, `${WORKFLOWS[workflow].constructId}Started`, {
      description: `zerodown ${props.clusterName}: report each ${workflow} execution that starts`,
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['RUNNING'], stateMachineArn: [stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(props.operations.notify, {
          event: events.RuleTargetInput.fromObject({
            cluster: props.clusterName,
            workflow,
            step: STARTED_STEP,
            outcome: 'started',
            execution: events.EventField.fromPath('$.detail.executionArn'),
            detail: { input: events.EventField.fromPath('$.detail.input') },
          }),
          retryAttempts: 10,
          maxEventAge: Duration.hours(1),
          deadLetterQueue: props.deadLetters,
        }),
      ],
    });
  }
}

/** The step a start's report names. */
export const STARTED_STEP = 'The execution started';

/**
 * The lock's lease. Every change a workflow makes renews it, and so does every poll of a running command and the
 * start of every bake and drain; the longest stretch without a renewal is one bake or one drain (each at most an
 * hour, by the request's and the model's bounds) or a node's boot wait. A lease past its expiry is free to take; a
 * holder that is no longer running is taken over at once, whatever its lease.
 */
export function lockLeaseSeconds(timing: WorkflowTiming): number {
  return Math.max(MAX_BAKE_SECONDS, MAX_DRAIN_SECONDS, timing.readyTimeoutSeconds) + LEASE_HEADROOM_SECONDS;
}
const LEASE_HEADROOM_SECONDS = 600;

/** The statuses of an execution that may have ended without its own rollback and report. */
export const ENDED_WITHOUT_SUCCESS = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;
/** The step an ended execution's report names. */
export const ENDED_STEP = 'The execution ended; if it ran no rollback, check the weights, surge nodes and file sync';
