import { Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEPLOY_SERVICE, deployServiceDefinition } from '../../statemachines/deploy-service';
import { FAILOVER, failoverDefinition } from '../../statemachines/failover';
import { PATCH_SERVER, type RolloutWording, rolloutDefinition, UPGRADE_VERSION } from '../../statemachines/rollout';
import { UPDATE_SERVICE, updateServiceDefinition } from '../../statemachines/update-service';
import { DEFAULT_TIMING, type WorkflowTiming } from '../../statemachines/workflow-builder';
import { type NodeOperations, workflowNamePrefix } from './node-operations';
import { WorkflowStateMachine } from './workflow-state-machine';

export interface WorkflowsProps {
  readonly clusterName: string;
  readonly operations: NodeOperations;
  readonly logGroup: logs.ILogGroup;
  /** @default Duration.hours(4) */
  readonly timeout?: Duration;
  /** @default DEFAULT_TIMING: 10 s polls, 15 min for a node to be ready, 1 h for a command */
  readonly timing?: WorkflowTiming;
}

/**
 * The cluster's workflows as Standard state machines named `zerodown-<cluster>-<workflow>`. Grant operators, the
 * CLI or a pipeline the right to run one with its `grantStartExecution`.
 */
export class Workflows extends Construct {
  public readonly patchServer: sfn.StateMachine;
  public readonly upgradeVersion: sfn.StateMachine;
  public readonly deployService: sfn.StateMachine;
  public readonly updateService: sfn.StateMachine;
  /** Started by the node alarms; see NodeAlarms. */
  public readonly failover: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.hours(4);
    // The lease outlives any execution, so a running workflow never has to renew it.
    const leaseSeconds = timeout.toSeconds() + 600;
    const timing = props.timing ?? DEFAULT_TIMING;
    // Each definition lives in its own scope: state names repeat between workflows, construct ids may not.
    const machine = (
      id: string,
      workflow: string,
      comment: string,
      define: (scope: Construct, options: { timing: WorkflowTiming; leaseSeconds: number }) => sfn.IChainable,
    ) =>
      new WorkflowStateMachine(this, id, {
        stateMachineName: `${workflowNamePrefix(props.clusterName)}${workflow}`,
        comment: `zerodown ${props.clusterName}: ${comment}`,
        definition: define(new Construct(this, `${id}Definition`), { timing, leaseSeconds }),
        logGroup: props.logGroup,
        timeout,
        lambdaFunctions: props.operations.all,
      }).stateMachine;
    const rollout =
      (wording: RolloutWording) => (scope: Construct, options: { timing: WorkflowTiming; leaseSeconds: number }) =>
        rolloutDefinition(scope, props.operations, { wording, ...options });

    this.patchServer = machine(
      'PatchServer',
      PATCH_SERVER.workflow,
      'patch every server with a restart, without downtime',
      rollout(PATCH_SERVER),
    );
    this.upgradeVersion = machine(
      'UpgradeVersion',
      UPGRADE_VERSION.workflow,
      'upgrade the product version, migrations first',
      rollout(UPGRADE_VERSION),
    );
    this.deployService = machine(
      'DeployService',
      DEPLOY_SERVICE,
      'deploy a new service on the manager and let file sync spread it',
      (scope, options) => deployServiceDefinition(scope, props.operations, options),
    );
    this.updateService = machine(
      'UpdateService',
      UPDATE_SERVICE,
      'hotfix a deployed service on the manager, then let file sync carry it to the workers',
      (scope, options) => updateServiceDefinition(scope, props.operations, options),
    );
    this.failover = machine(
      'Failover',
      FAILOVER,
      'move traffic off a lost node and restore redundancy with a replacement',
      (scope, options) => failoverDefinition(scope, props.operations, options),
    );
  }
}
