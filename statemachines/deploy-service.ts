import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { DeployPlan } from '../functions/domain/plans/deploy-service';
import { STEPS } from '../functions/domain/plans/steps';
import type { WorkflowName } from '../functions/domain/workflows';
import { waitForSync } from './fragments/file-sync';
import { workflowFrame } from './fragments/frame';
import { cluster, runCommandOn } from './fragments/node-steps';
import { planPath } from './fragments/plan-path';
import type { DefinitionOptions, WorkflowBuilder, WorkflowOperations } from './workflow-builder';

export const DEPLOY_SERVICE = 'deploy-service' satisfies WorkflowName;

/**
 * deploy-service: deploy a new service once, on the manager node; wait until file sync has carried it to every
 * worker (its smoke test passes there); smoke-test every node; expose it. No traffic moves, so the frame's rollback
 * only has the lock to release and the failure to report.
 */
export function deployServiceDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: DefinitionOptions,
): sfn.IChainable {
  return workflowFrame(scope, ops, {
    workflow: DEPLOY_SERVICE,
    planNoun: 'deployment',
    successLabel: 'Deployment succeeded',
    leaseSeconds: options.leaseSeconds,
    executionTimeoutSeconds: options.executionTimeoutSeconds,
    ...(options.timing ? { timing: options.timing } : {}),
    body: (b, finish) => deploySteps(b, finish),
  });
}

function deploySteps(b: WorkflowBuilder, finish: sfn.IChainable): sfn.IChainable {
  const deploy = runCommandOn(b, {
    label: STEPS.deployOnManager,
    noun: 'deployment on the manager node',
    kindPath: planPath<DeployPlan>('deploy', 'kind'),
    inputPath: planPath<DeployPlan>('deploy', 'input'),
    instanceIdPath: planPath<DeployPlan>('manager', 'instanceId'),
    resultPath: '$.deployment',
  });
  const smokeTestAll = runCommandOn(b, {
    label: STEPS.smokeTestEveryNode,
    noun: 'smoke test of every node',
    kindPath: planPath<DeployPlan>('smokeTest', 'kind'),
    inputPath: planPath<DeployPlan>('smokeTest', 'input'),
    instanceIdsPath: planPath<DeployPlan>('allInstanceIds'),
    resultPath: '$.smokeTest',
  });
  const expose = runCommandOn(b, {
    label: STEPS.expose,
    noun: 'exposure of the service',
    kindPath: planPath<DeployPlan>('expose', 'kind'),
    inputPath: planPath<DeployPlan>('expose', 'input'),
    instanceIdPath: planPath<DeployPlan>('manager', 'instanceId'),
    resultPath: '$.exposed',
  });
  const exposeRule = b.change(
    STEPS.exposeRule,
    b.ops.exposeService,
    {
      ...cluster,
      'service.$': planPath<DeployPlan>('exposeRule', 'service'),
      'pathPatterns.$': planPath<DeployPlan>('exposeRule', 'pathPatterns'),
      'hostHeaders.$': planPath<DeployPlan>('exposeRule', 'hostHeaders'),
      'priority.$': planPath<DeployPlan>('exposeRule', 'priority'),
    },
    '$.exposedRule',
  );
  const ruleIfAsked = new sfn.Choice(b.scope, 'Expose the service on the load balancer?')
    // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
    .when(sfn.Condition.not(sfn.Condition.isNull(planPath<DeployPlan>('exposeRule'))), exposeRule.next(finish))
    .otherwise(finish);
  const exposeIfAsked = new sfn.Choice(b.scope, 'Expose the service?')
    .when(sfn.Condition.not(sfn.Condition.isNull(planPath<DeployPlan>('expose'))), expose.next(ruleIfAsked))
    .otherwise(ruleIfAsked);

  return sfn.Chain.start(deploy)
    .next(waitForSync(b, { verify: false }))
    .next(smokeTestAll)
    .next(exposeIfAsked);
}
