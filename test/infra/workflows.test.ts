import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

describe('Workflows', () => {
  const template = Template.fromJSON(synthesizedApp().stack(TEST_CLUSTER_STACK).template);

  it.each(['patch-server', 'upgrade-version', 'deploy-service', 'update-service'])(
    'runs %s as a Standard state machine with a timeout, X-Ray and ALL-level logs',
    (workflow) => {
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `zerodown-test-cluster-${workflow}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
        // One string, its references to other resources resolved by CloudFormation's DefinitionSubstitutions.
        DefinitionString: Match.stringLikeRegexp('"TimeoutSeconds":21600'),
        DefinitionSubstitutions: Match.objectLike({ ref0: Match.anyValue() }),
      });
    },
  );

  it('lets an operator role be granted the right to start a patch', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Grant', {
      env: { region: 'us-east-1', account: '123456789012' },
    });
    const cluster = new ZeroDownCluster(stack, 'Cluster', { model: testClusterModel() });
    const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });

    cluster.workflows.patchServer.grantStartExecution(operator);

    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^Operator') }],
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'states:StartExecution',
            Resource: { Ref: Match.stringLikeRegexp('PatchServer') },
          }),
        ],
      },
    });
  });
});
