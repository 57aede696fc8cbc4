import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { WorkflowName } from '../functions/domain/workflows';
import { waitForSync } from './fragments/file-sync';
import { workflowFrame } from './fragments/frame';
import { cluster, runCommandOn } from './fragments/node-steps';
import type { WorkflowBuilder, WorkflowOperations, WorkflowTiming } from './workflow-builder';

export const DEPLOY_SERVICE = 'deploy-service' satisfies WorkflowName;

/**
 * deploy-service: deploy a new service once, on the manager node; wait until file sync has carried it to every
 * worker (its smoke test passes there); smoke-test every node; expose it. No traffic moves, so the frame's rollback
 * only has the lock to release and the failure to report.
 */
export function deployServiceDefinition(
  scope: Construct,
  ops: WorkflowOperations,
  options: { timing?: WorkflowTiming; leaseSeconds: number },
): sfn.IChainable {
  return workflowFrame(scope, ops, {
    workflow: DEPLOY_SERVICE,
    planNoun: 'deployment',
    successLabel: 'Deployment succeeded',
    leaseSeconds: options.leaseSeconds,
    ...(options.timing ? { timing: options.timing } : {}),
    body: (b, finish) => deploySteps(b, finish),
  });
}

function deploySteps(b: WorkflowBuilder, finish: sfn.IChainable): sfn.IChainable {
  const deploy = runCommandOn(b, {
    label: 'Deploy the service on the manager node',
    noun: 'deployment on the manager node',
    kindPath: '$.plan.deploy.kind',
    inputPath: '$.plan.deploy.input',
    instanceIdPath: '$.plan.manager.instanceId',
    resultPath: '$.deployment',
  });
  const smokeTestAll = runCommandOn(b, {
    label: 'Smoke-test every node',
    noun: 'smoke test of every node',
    kindPath: '$.plan.smokeTest.kind',
    inputPath: '$.plan.smokeTest.input',
    instanceIdsPath: '$.plan.allInstanceIds',
    resultPath: '$.smokeTest',
  });
  const expose = runCommandOn(b, {
    label: 'Expose the service',
    noun: 'exposure of the service',
    kindPath: '$.plan.expose.kind',
    inputPath: '$.plan.expose.input',
    instanceIdPath: '$.plan.manager.instanceId',
    resultPath: '$.exposed',
  });
  const exposeRule = b.step(
    'Expose the service on the load balancer',
    b.ops.exposeService,
    {
      ...cluster,
      'service.$': '$.plan.exposeRule.service',
      'pathPatterns.$': '$.plan.exposeRule.pathPatterns',
      'hostHeaders.$': '$.plan.exposeRule.hostHeaders',
      'priority.$': '$.plan.exposeRule.priority',
    },
    '$.exposedRule',
  );
  const ruleIfAsked = new sfn.Choice(b.scope, 'Expose the service on the load balancer?')
    // Not(IsNull) rather than IsNull=false: the local runner gets the `false` form of type tests wrong.
    .when(sfn.Condition.not(sfn.Condition.isNull('$.plan.exposeRule')), exposeRule.next(finish))
    .otherwise(finish);
  const exposeIfAsked = new sfn.Choice(b.scope, 'Expose the service?')
    .when(sfn.Condition.not(sfn.Condition.isNull('$.plan.expose')), expose.next(ruleIfAsked))
    .otherwise(ruleIfAsked);

  return sfn.Chain.start(deploy)
    .next(waitForSync(b, { verify: false }))
    .next(smokeTestAll)
    .next(exposeIfAsked);
}
