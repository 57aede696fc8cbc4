import { Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type ClusterWorkflow, WORKFLOWS } from '../../functions/domain/workflows';
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
    this.patchServer = this.byName['patch-server'];
    this.upgradeVersion = this.byName['upgrade-version'];
    this.deployService = this.byName['deploy-service'];
    this.updateService = this.byName['update-service'];
    this.failover = this.byName.failover;
  }
}
