import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  buildExamplePipelineApp,
  EXAMPLE_PIPELINE_CLUSTER_FILE,
  pipelineStackIdFor,
  readClusterFile,
  stackIdFor,
} from '../../cdk/app';
import {
  addZeroDownStage,
  type BuildInputSpec,
  writeBuildInputCommand,
  ZeroDownStageInput,
} from '../../cdk/constructs/pipeline-stage';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { PROJECT_ROOT } from '../../cdk/paths';
import {
  EXAMPLE_SERVICE,
  exampleDeployInput,
  examplePatchInput,
  exampleReleaseBucketName,
} from '../../cdk/stacks/example-pipeline-stack';
import { ConfigurationError, InputValidationError } from '../../functions/domain/errors';
import { cfnLintCommand } from '../../local/python-tools';

/**
 * The example pipeline app, synthesized offline as `cdk synth -c examplePipeline=true` does, with the project's
 * cdk.json settings (cdk-nag runs, so reaching the assertions means it found nothing unacknowledged).
 */
const { context: projectContext } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
const context = { ...projectContext, 'aws:cdk:bundling-stacks': [] };
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-pipeline-'));
const model = readClusterFile(EXAMPLE_PIPELINE_CLUSTER_FILE);
const app = new App({ outdir, context });
buildExamplePipelineApp(app, model);
const assembly = app.synth();
const pipelineArtifact = assembly.getStackByName(pipelineStackIdFor(model.name));
const clusterArtifact = assembly.getStackByName(stackIdFor(model.name));
const template = Template.fromJSON(pipelineArtifact.template);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;
const resources = (pipelineArtifact.template as { Resources: Resources }).Resources;

function logicalIdOf(type: string, prefix: string): string {
  const ids = Object.keys(resources).filter((id) => resources[id]?.Type === type && id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

/** The ARN CloudFormation builds for `arn:<partition>:<service>:eu-west-1:<account>:<rest>`. */
const arnOf = (service: string, rest: string) => ({
  'Fn::Join': [
    '',
    ['arn:', { Ref: 'AWS::Partition' }, `:${service}:eu-west-1:`, { Ref: 'AWS::AccountId' }, `:${rest}`],
  ],
});

/** A resource's properties; an empty object when it has none, which the assertions then report. */
const propertiesOf = (logicalId: string): Record<string, unknown> => resources[logicalId]?.Properties ?? {};

function stages() {
  const pipeline = logicalIdOf('AWS::CodePipeline::Pipeline', 'Pipeline');
  return (propertiesOf(pipeline).Stages ?? []) as { Name: string; Actions: Record<string, unknown>[] }[];
}

function stageNamed(name: string) {
  return stages().find((stage) => stage.Name === name);
}

function policyOfRole(roleLogicalId: string) {
  const policies = Object.values(resources).filter(
    (resource) =>
      resource.Type === 'AWS::IAM::Policy' &&
      JSON.stringify(resource.Properties?.Roles) === JSON.stringify([{ Ref: roleLogicalId }]),
  );
  expect(policies).toHaveLength(1);
  return (policies[0]?.Properties?.PolicyDocument as { Statement: unknown[] } | undefined)?.Statement;
}

describe('the example pipeline', () => {
  it('runs source, build, zerodown deploy-service and zerodown patch-server, in that order', () => {
    expect(stages().map((stage) => stage.Name)).toEqual(['Source', 'Build', 'Deploy', 'Patch']);
    template.hasResourceProperties('AWS::CodePipeline::Pipeline', { PipelineType: 'V2' });
    // The S3 source needs no connection: a versioned bucket, polled.
    expect(stageNamed('Source')?.Actions[0]).toMatchObject({
      ActionTypeId: { Category: 'Source', Provider: 'S3' },
      Configuration: { S3ObjectKey: 'source/orders-api.zip', PollForSourceChanges: true },
    });
    const sourceBucket = logicalIdOf('AWS::S3::Bucket', 'Source');
    expect(stageNamed('Source')?.Actions[0]?.Configuration).toMatchObject({ S3Bucket: { Ref: sourceBucket } });
    expect(propertiesOf(sourceBucket).VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('starts deploy-service with the input file the build wrote, named per action execution', () => {
    const actionsOfStage = stageNamed('Deploy')?.Actions ?? [];
    expect(actionsOfStage).toHaveLength(1);
    expect(actionsOfStage[0]).toMatchObject({
      Name: 'zerodown-deploy-service',
      ActionTypeId: { Category: 'Invoke', Owner: 'AWS', Provider: 'StepFunctions', Version: '1' },
      InputArtifacts: [{ Name: 'BuildOutput' }],
    });
    expect(actionsOfStage[0]?.Configuration).toEqual({
      StateMachineArn: arnOf('states', 'stateMachine:zerodown-demo-deploy-service'),
      InputType: 'FilePath',
      Input: 'BuildOutput::zerodown-input.json',
      ExecutionNamePrefix: 'pipeline',
    });
  });

  it('starts patch-server with a literal input fixed in the pipeline', () => {
    expect(stageNamed('Patch')?.Actions[0]).toMatchObject({
      Name: 'zerodown-patch-server',
      Configuration: {
        StateMachineArn: arnOf('states', 'stateMachine:zerodown-demo-patch-server'),
        InputType: 'Literal',
        Input: JSON.stringify(examplePatchInput('demo')),
        ExecutionNamePrefix: 'pipeline',
      },
    });
    expect(stageNamed('Patch')?.Actions[0]?.InputArtifacts).toBeUndefined();
  });

  it('builds with a buildspec that uploads the release and writes the input with the shared function', () => {
    const project = propertiesOf(logicalIdOf('AWS::CodeBuild::Project', 'Build'));
    const buildSpec = JSON.parse((project.Source as { BuildSpec: string }).BuildSpec) as {
      phases: { build: { commands: string[] } };
      artifacts: { files: string[] };
    };
    const { commands } = buildSpec.phases.build;
    expect(commands).toContain(writeBuildInputCommand(exampleDeployInput('demo')));
    expect(commands.some((command) => command.startsWith('aws s3 cp') && command.includes('"$ARTIFACT_URI"'))).toBe(
      true,
    );
    expect(buildSpec.artifacts.files).toEqual(['zerodown-input.json']);
    expect(project.EncryptionKey).toBeDefined();
    const releaseBucket = logicalIdOf('AWS::S3::Bucket', 'Releases');
    expect(project.Environment).toMatchObject({
      EnvironmentVariables: [{ Name: 'RELEASE_BUCKET', Type: 'PLAINTEXT', Value: { Ref: releaseBucket } }],
    });
    expect(policyOfRole(logicalIdOf('AWS::IAM::Role', 'BuildRole'))).toContainEqual({
      Sid: 'UploadReleases',
      Effect: 'Allow',
      Action: 's3:PutObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [releaseBucket, 'Arn'] }, `/${EXAMPLE_SERVICE}/*`]] },
    });
  });

  it("lets the cluster's nodes read the release bucket, by a name both stacks compute alike", () => {
    const bucketName = Stack.of(app.node.findChild(pipelineStackIdFor('demo'))).resolve(
      exampleReleaseBucketName('demo', 'eu-west-1'),
    );
    template.hasResourceProperties('AWS::S3::Bucket', { BucketName: bucketName });
    Template.fromJSON(clusterArtifact.template).hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:GetObject',
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', bucketName, '/*']] },
          }),
        ]),
      },
    });
  });
});

describe("a zerodown stage's permissions", () => {
  const deployRole = logicalIdOf('AWS::IAM::Role', 'PipelineDeployzerodowndeployservice');
  const patchRole = logicalIdOf('AWS::IAM::Role', 'PipelinePatchzerodownpatchserver');
  const pipelineRole = logicalIdOf('AWS::IAM::Role', 'PipelineRole');

  it('start the one state machine and describe the executions it names, and read the input artifact', () => {
    const artifacts = logicalIdOf('AWS::S3::Bucket', 'Artifacts');
    expect(policyOfRole(deployRole)).toEqual([
      {
        Effect: 'Allow',
        Action: ['states:DescribeStateMachine', 'states:StartExecution'],
        Resource: arnOf('states', 'stateMachine:zerodown-demo-deploy-service'),
      },
      {
        Effect: 'Allow',
        Action: 'states:DescribeExecution',
        Resource: arnOf('states', 'execution:zerodown-demo-deploy-service:pipeline*'),
      },
      {
        Effect: 'Allow',
        Action: ['s3:GetBucket*', 's3:GetObject*', 's3:List*'],
        Resource: [
          { 'Fn::GetAtt': [artifacts, 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [artifacts, 'Arn'] }, '/*']] },
        ],
      },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:DescribeKey'],
        Resource: { 'Fn::GetAtt': [logicalIdOf('AWS::KMS::Key', 'Key'), 'Arn'] },
      },
    ]);
  });

  it('of a literal input need no artifact at all', () => {
    expect(policyOfRole(patchRole)).toEqual([
      {
        Effect: 'Allow',
        Action: ['states:DescribeStateMachine', 'states:StartExecution'],
        Resource: arnOf('states', 'stateMachine:zerodown-demo-patch-server'),
      },
      {
        Effect: 'Allow',
        Action: 'states:DescribeExecution',
        Resource: arnOf('states', 'execution:zerodown-demo-patch-server:pipeline*'),
      },
    ]);
  });

  it("are the action roles' alone: only the pipeline's role may assume them, and it has no Step Functions right", () => {
    for (const role of [deployRole, patchRole]) {
      expect(propertiesOf(role).AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: { 'Fn::GetAtt': [pipelineRole, 'Arn'] } } },
        ],
      });
    }
    expect(JSON.stringify(policyOfRole(pipelineRole))).not.toContain('states:');
  });

  it('take no export from the cluster stack: the pipeline names the state machines and deploys after them', () => {
    expect(JSON.stringify(pipelineArtifact.template)).not.toContain('Fn::ImportValue');
    expect(pipelineArtifact.dependencies.map((dependency) => dependency.id)).toContain(stackIdFor('demo'));
  });
});

describe('quality gates of the example pipeline', () => {
  it('cdk-nag finds nothing unacknowledged', () => {
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('cfn-lint accepts both templates', () => {
    const cfnLint = cfnLintCommand();
    const output = execFileSync(
      cfnLint.command,
      [
        ...cfnLint.args,
        '--format',
        'json',
        path.join(outdir, pipelineArtifact.templateFile),
        path.join(outdir, clusterArtifact.templateFile),
      ],
      { cwd: PROJECT_ROOT, encoding: 'utf8' },
    );
    expect(JSON.parse(output)).toEqual([]);
  });

  it('the app entry point builds it with -c examplePipeline=true, offline', () => {
    const cdkOut = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-pipeline-bin-'));
    try {
      const result = spawnSync(
        process.execPath,
        ['--import', require.resolve('tsx'), path.join(PROJECT_ROOT, 'cdk', 'bin', 'zerodown.ts')],
        {
          cwd: PROJECT_ROOT,
          encoding: 'utf8',
          timeout: 240_000,
          // What the CDK CLI hands the app; bundling is skipped, as the test's own synthesis skips it.
          env: {
            ...process.env,
            CDK_OUTDIR: cdkOut,
            CDK_CONTEXT_JSON: JSON.stringify({ ...context, examplePipeline: 'true' }),
          },
        },
      );
      expect(result.stderr).not.toMatch(/Error/);
      expect(result.status).toBe(0);
      expect(
        fs
          .readdirSync(cdkOut)
          .filter((file) => file.endsWith('.template.json'))
          .sort(),
      ).toEqual(['ZeroDown-demo-pipeline.template.json', 'ZeroDown-demo.template.json']);
    } finally {
      fs.rmSync(cdkOut, { recursive: true, force: true });
    }
  });
});

describe('addZeroDownStage refuses at synthesis', () => {
  const region = 'eu-west-1';
  const fresh = () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Pipeline', {
      env: { region, account: '111122223333' },
    });
    const cluster = new ZeroDownCluster(stack, 'Cluster', { model });
    const pipeline = new codepipeline.Pipeline(stack, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      artifactBucket: new s3.Bucket(stack, 'Artifacts'),
    });
    const source = new codepipeline.Artifact('Source');
    pipeline.addStage({
      stageName: 'Source',
      actions: [
        new actions.S3SourceAction({
          actionName: 'Source',
          bucket: new s3.Bucket(stack, 'SourceBucket', { versioned: true }),
          bucketKey: 'source.zip',
          output: source,
        }),
      ],
    });
    return { stack, cluster, pipeline, source };
  };
  const deploySpec: BuildInputSpec = exampleDeployInput('demo');

  it('a literal input the workflow would refuse, naming the field', () => {
    const { cluster, pipeline } = fresh();
    expect(() =>
      addZeroDownStage(pipeline, {
        stageName: 'Patch',
        cluster,
        workflow: 'patch-server',
        input: ZeroDownStageInput.literal({ patchId: 'rm -rf /' }),
      }),
    ).toThrow(InputValidationError);
    expect(() =>
      addZeroDownStage(pipeline, {
        stageName: 'Patch',
        cluster,
        workflow: 'patch-server',
        input: ZeroDownStageInput.literal({ cluster: 'other', patchId: 'P1' }),
      }),
    ).toThrow(/literal input is for cluster other/);
  });

  it('a build input with a field the workflow does not take, or for another workflow or cluster', () => {
    const { cluster, pipeline, source } = fresh();
    expect(() =>
      ZeroDownStageInput.fromBuildOutput(source, {
        ...deploySpec,
        fromVariables: { ...deploySpec.fromVariables, version: 'VERSION' },
      }),
    ).toThrow(InputValidationError);
    expect(() => writeBuildInputCommand({ ...deploySpec, fromVariables: { artifact: 'ARTIFACT URI' } })).toThrow(
      ConfigurationError,
    );
    expect(() => writeBuildInputCommand({ ...deploySpec, file: '../input.json' })).toThrow(ConfigurationError);
    expect(() =>
      addZeroDownStage(pipeline, {
        stageName: 'Update',
        cluster,
        workflow: 'update-service',
        input: ZeroDownStageInput.fromBuildOutput(source, deploySpec),
      }),
    ).toThrow(/build input is for workflow deploy-service/);
  });

  it('an execution name prefix the lock would not accept, and a pipeline in another region', () => {
    const { cluster, pipeline, source } = fresh();
    expect(() =>
      addZeroDownStage(pipeline, {
        stageName: 'Deploy',
        cluster,
        workflow: 'deploy-service',
        input: ZeroDownStageInput.fromBuildOutput(source, deploySpec),
        executionNamePrefix: 'my:pipeline',
      }),
    ).toThrow(ConfigurationError);
    const elsewhere = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Elsewhere', {
      env: { region: 'us-east-1', account: '111122223333' },
    });
    const otherPipeline = new codepipeline.Pipeline(elsewhere, 'Pipeline', {
      artifactBucket: new s3.Bucket(elsewhere, 'Artifacts'),
    });
    expect(() =>
      addZeroDownStage(otherPipeline, {
        stageName: 'Patch',
        cluster,
        workflow: 'patch-server',
        input: ZeroDownStageInput.literal({ patchId: 'P1' }),
      }),
    ).toThrow(/must be in its region eu-west-1/);
  });
});
