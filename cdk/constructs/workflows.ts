import { Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DEPLOY_SERVICE, deployServiceDefinition } from '../../statemachines/deploy-service';
import { PATCH_SERVER, type RolloutWording, rolloutDefinition, UPGRADE_VERSION } from '../../statemachines/rollout';
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

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.hours(4);
    // The lease outlives any execution, so a running workflow never has to renew it.
    const leaseSeconds = timeout.toSeconds() + 600;
    const rollout = (id: string, wording: RolloutWording, comment: string) =>
      new WorkflowStateMachine(this, id, {
        stateMachineName: `${workflowNamePrefix(props.clusterName)}${wording.workflow}`,
        comment: `zerodown ${props.clusterName}: ${comment}`,
        definition: rolloutDefinition(new Construct(this, `${id}Definition`), props.operations, {
          wording,
          timing: props.timing ?? DEFAULT_TIMING,
          leaseSeconds,
        }),
        logGroup: props.logGroup,
        timeout,
        lambdaFunctions: props.operations.all,
      }).stateMachine;
    // Each definition lives in its own scope: state names repeat between workflows, construct ids may not.
    this.patchServer = rollout('PatchServer', PATCH_SERVER, 'patch every server with a restart, without downtime');
    this.upgradeVersion = rollout('UpgradeVersion', UPGRADE_VERSION, 'upgrade the product version, migrations first');
    this.deployService = new WorkflowStateMachine(this, 'DeployService', {
      stateMachineName: `${workflowNamePrefix(props.clusterName)}${DEPLOY_SERVICE}`,
      comment: `zerodown ${props.clusterName}: deploy a new service on the manager and let file sync spread it`,
      definition: deployServiceDefinition(new Construct(this, 'DeployServiceDefinition'), props.operations, {
        timing: props.timing ?? DEFAULT_TIMING,
        leaseSeconds,
      }),
      logGroup: props.logGroup,
      timeout,
      lambdaFunctions: props.operations.all,
    }).stateMachine;
  }
}
