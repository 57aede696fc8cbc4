import { CfnElement, CfnResource, type Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  stateMachineNameOf,
  WORKFLOW_METADATA_KEY,
  WORKFLOWS,
  type WorkflowName,
} from '../../functions/domain/workflows';

/**
 * A zerodown workflow names the state machine (`zerodown-<cluster>-<workflow>`), gives its comment and marks it for
 * tools that read templates; any other state machine (a test's probe) gives its own comment.
 */
export type WorkflowStateMachineProps = StateMachineSettings &
  ({ readonly workflow: WorkflowName; readonly clusterName: string } | { readonly comment: string });

export interface StateMachineSettings {
  /** The workflow's first state, chained from the fragments in statemachines/. */
  readonly definition: sfn.IChainable;
  /** Where executions log, at ALL level with execution data. */
  readonly logGroup: logs.ILogGroup;
  /** An execution that runs longer fails with States.Timeout. */
  readonly timeout: Duration;
  /**
   * The functions the definition invokes. Step Functions' Lambda integration grants invoke on each one and on its
   * versions (`<arn>:*`); that wildcard is acknowledged to cdk-nag per function.
   * @default - none
   */
  readonly lambdaFunctions?: readonly lambda.IFunction[];
  /** @default RemovalPolicy.DESTROY: executions' history lives in the log group, which is retained */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A Standard, JSONPath state machine with the settings every zerodown workflow must have: a timeout, X-Ray tracing
 * and ALL-level logging.
 */
export class WorkflowStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    if (props.timeout.toSeconds() <= 0) throw new Error(`${id}: timeout must be positive`);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      ...('workflow' in props
        ? {
            stateMachineName: stateMachineNameOf(props.clusterName, props.workflow),
            comment: `zerodown ${props.clusterName}: ${WORKFLOWS[props.workflow].summary}`,
          }
        : { comment: props.comment }),
      stateMachineType: sfn.StateMachineType.STANDARD,
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
      timeout: props.timeout,
      tracingEnabled: true,
      logs: { destination: props.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    // Tools that read templates (the local runner, the sandbox) find a workflow's state machine by this, not by
    // its construct path.
    const resource = this.stateMachine.node.defaultChild;
    if ('workflow' in props && resource instanceof CfnResource)
      resource.addMetadata(WORKFLOW_METADATA_KEY, props.workflow);

    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing and CloudWatch Logs vended-log delivery (logs:CreateLogDelivery and friends), which have no ' +
        'resource-level permissions.',
    });
    for (const fn of props.lambdaFunctions ?? []) {
      const resource = fn.node.defaultChild;
      if (!(resource instanceof CfnElement)) continue;
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(fn).getLogicalId(resource)}.Arn>:*]`,
        reason: `Invoke on the versions of ${fn.node.path} only (<arn>:*), as granted by the Lambda integration.`,
      });
    }
  }
}
