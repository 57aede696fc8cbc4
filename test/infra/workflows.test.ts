import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { WorkflowStateMachine } from '../../cdk/constructs/workflow-state-machine';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { readCloudAssembly } from '../../local/synth';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

describe('Workflows', () => {
  const stack = synthesizedApp().stack(TEST_CLUSTER_STACK);
  // As synthesized: each definition is an S3 asset of the stack.
  const synthesized = Template.fromJSON(JSON.parse(fs.readFileSync(stack.templateFile, 'utf8')));
  // As readCloudAssembly gives it: each definition read back from its staged asset.
  const template = Template.fromJSON(stack.template);

  it.each(['patch-server', 'upgrade-version', 'deploy-service', 'update-service'])(
    'runs %s as a Standard state machine with a timeout, X-Ray and ALL-level logs',
    (workflow) => {
      synthesized.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `zerodown-test-cluster-${workflow}`,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
        // One string in the CDK bootstrap's assets bucket, keyed by its content's hash; its references to other
        // resources resolved by CloudFormation's DefinitionSubstitutions.
        DefinitionS3Location: {
          Bucket: { 'Fn::Sub': Match.stringLikeRegexp('^cdk-[a-z0-9]+-assets-\\$\\{AWS::AccountId\\}-us-east-1$') },
          Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.json$'),
        },
        DefinitionString: Match.absent(),
        DefinitionSubstitutions: Match.objectLike({ ref0: Match.anyValue() }),
      });
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineName: `zerodown-test-cluster-${workflow}`,
        DefinitionString: Match.stringLikeRegexp('"TimeoutSeconds":21600'),
        DefinitionS3Location: Match.absent(),
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

describe('a definition as an S3 asset', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-definition-asset-'));
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  /** One stack per comment, each with one state machine of one Pass state that says its comment. */
  function synth(comments: readonly string[]) {
    const app = new App({ outdir: path.join(outdir, String(fs.readdirSync(outdir).length)) });
    for (const [index, comment] of comments.entries()) {
      const stack = new Stack(app, `Probe${index}`, { env: { region: 'us-east-1', account: '123456789012' } });
      new WorkflowStateMachine(stack, 'Workflow', {
        definition: new sfn.Pass(stack, 'Say', { result: sfn.Result.fromString(comment) }),
        logGroup: new logs.LogGroup(stack, 'Logs'),
        timeout: Duration.minutes(1),
        comment,
      });
    }
    app.synth();
    return app.outdir;
  }
  const rawMachines = (assembly: string, stackName: string) =>
    resourcesOfType(
      JSON.parse(fs.readFileSync(path.join(assembly, `${stackName}.template.json`), 'utf8')),
      'AWS::StepFunctions::StateMachine',
    );
  const keyOf = (assembly: string, stackName: string) =>
    (rawMachines(assembly, stackName)[0]?.[1].Properties?.DefinitionS3Location as { Key?: string } | undefined)?.Key;

  it('is keyed by its content: the key changes exactly when the definition does', () => {
    const assembly = synth(['same', 'same', 'other']);
    expect(keyOf(assembly, 'Probe0')).toBe(keyOf(assembly, 'Probe1'));
    expect(keyOf(assembly, 'Probe2')).not.toBe(keyOf(assembly, 'Probe0'));
  });

  it('grants the state machine no access to the assets bucket: CloudFormation reads it', () => {
    const assembly = synth(['alone']);
    const policies = resourcesOfType(
      JSON.parse(fs.readFileSync(path.join(assembly, 'Probe0.template.json'), 'utf8')),
      'AWS::IAM::Policy',
    );
    expect(JSON.stringify(policies)).not.toMatch(/s3:|assets/);
  });

  it('is read back into the template by readCloudAssembly, which names a state machine whose asset is missing', () => {
    const assembly = synth(['read back']);
    const [logicalId] = rawMachines(assembly, 'Probe0')[0] ?? [];
    const machine = readCloudAssembly(assembly).stack('Probe0').template.Resources[logicalId ?? ''];
    expect(machine?.Properties?.DefinitionS3Location).toBeUndefined();
    expect(JSON.parse(String(machine?.Properties?.DefinitionString))).toMatchObject({
      Comment: 'read back',
      StartAt: 'Say',
      States: { Say: { Type: 'Pass', Result: 'read back' } },
    });

    fs.rmSync(path.join(assembly, `asset.${keyOf(assembly, 'Probe0')}`));
    expect(() => readCloudAssembly(assembly)).toThrow(
      new RegExp(`^Probe0/${logicalId}: the definition's asset \\(S3 key "[0-9a-f]{64}\\.json"\\) is not in the cloud`),
    );
  });
});
