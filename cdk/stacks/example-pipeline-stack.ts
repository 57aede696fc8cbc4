import { ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import { ConfigurationError } from '../../functions/domain/errors';
import {
  addZeroDownStage,
  type BuildInputSpec,
  buildInputFile,
  writeBuildInputCommand,
  ZeroDownStageInput,
} from '../constructs/pipeline-stage';
import type { ZeroDownCluster } from '../constructs/zerodown-cluster';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag';

/** The service the example pipeline builds and deploys. */
export const EXAMPLE_SERVICE = 'orders-api';
/** The patch the example pipeline's last stage applies. */
export const EXAMPLE_PATCH_ID = 'EXAMPLE-PATCH-1';
/** The object key of the source the pipeline builds, in its source bucket. */
export const EXAMPLE_SOURCE_KEY = 'source/orders-api.zip';

/** The deploy stage's input: the build fills in the artifact it uploaded. */
export function exampleDeployInput(clusterName: string): BuildInputSpec {
  return {
    workflow: 'deploy-service',
    cluster: clusterName,
    fields: { service: EXAMPLE_SERVICE },
    fromVariables: { artifact: 'ARTIFACT_URI' },
  };
}

/** The patch stage's input, fixed in the pipeline: patch-server takes no build artifact. */
export function examplePatchInput(clusterName: string): Record<string, unknown> {
  return { cluster: clusterName, patchId: EXAMPLE_PATCH_ID };
}

/**
 * The bucket the build uploads releases to. Its name is fixed from the cluster, the account and the region, so the
 * cluster's stack can let the nodes read it without a reference to this stack, which depends on that one.
 */
export function exampleReleaseBucketName(clusterName: string, region: string): string {
  const fixed = `zerodown-${clusterName}-releases--`;
  // An account id has 12 digits; a bucket name at most 63 characters.
  if (fixed.length + 12 + region.length > 63) {
    throw new ConfigurationError(`The example release bucket's name for cluster ${clusterName} would be too long`);
  }
  return Fn.join('-', ['zerodown', clusterName, 'releases', Aws.ACCOUNT_ID, Aws.REGION]);
}

/** The build: an artifact from the source, uploaded to the release bucket, and the deploy stage's input. */
export function exampleBuildSpec(deployInput: BuildInputSpec): Record<string, unknown> {
  return {
    version: '0.2',
    env: { shell: 'bash' },
    phases: {
      build: {
        commands: [
          // A VERSION file in the source names the release; without one, the build number does.
          'VERSION="$(cat VERSION 2>/dev/null || echo "1.0.$CODEBUILD_BUILD_NUMBER")"',
          // Replace with the product's own build (mvn package for a Carbon application, for example).
          `zip -qr "/tmp/${EXAMPLE_SERVICE}.zip" . -x '.git/*'`,
          `ARTIFACT_URI="s3://\${RELEASE_BUCKET}/${EXAMPLE_SERVICE}/\${VERSION}/${EXAMPLE_SERVICE}.zip"`,
          `aws s3 cp --only-show-errors "/tmp/${EXAMPLE_SERVICE}.zip" "$ARTIFACT_URI"`,
          writeBuildInputCommand(deployInput),
        ],
      },
    },
    artifacts: { files: [buildInputFile(deployInput)] },
  };
}

export interface ExamplePipelineStackProps extends StackProps {
  /** The cluster the pipeline deploys to, from its orchestration stack. */
  readonly cluster: ZeroDownCluster;
  /** The release bucket's name: `exampleReleaseBucketName`, which the cluster's nodes may read. */
  readonly releaseBucketName: string;
}

/**
 * An example pipeline: a source zip in a versioned bucket → a build that uploads the release and writes the deploy
 * input → zerodown deploy-service → zerodown patch-server. It needs no connection to a repository, so it
 * synthesizes offline; upload `source/orders-api.zip` to the source bucket to start it.
 */
export class ExamplePipelineStack extends Stack {
  public readonly pipeline: codepipeline.Pipeline;
  public readonly sourceBucket: s3.Bucket;
  public readonly releaseBucket: s3.Bucket;
  public readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: ExamplePipelineStackProps) {
    super(scope, id, props);
    // Each action's role trusts the pipeline's role only, not every principal of the account.
    this.node.setContext(cxapi.PIPELINE_REDUCE_STAGE_ROLE_TRUST_SCOPE, true);
    // S3 delivers access logs under the log bucket's policy, not a legacy ACL.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const clusterName = props.cluster.model.name;

    const key = new kms.Key(this, 'Key', {
      description: `zerodown ${clusterName} example pipeline: artifacts and build output`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the access logs of the other buckets; logging it into itself would loop.',
    });
    const bucket = (bucketId: string, extra: Partial<s3.BucketProps> = {}) =>
      new s3.Bucket(this, bucketId, {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        serverAccessLogsBucket: accessLogs,
        serverAccessLogsPrefix: `${bucketId}/`,
        removalPolicy: RemovalPolicy.RETAIN,
        ...extra,
      });
    // The S3 source action needs a versioned bucket: each pipeline run builds one version of the source object.
    this.sourceBucket = bucket('Source');
    // The nodes fetch releases from here (the cluster's stack grants them s3:GetObject on it, by name).
    this.releaseBucket = bucket('Releases', { bucketName: props.releaseBucketName });
    const artifacts = bucket('Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      bucketKeyEnabled: true,
    });

    this.project = new codebuild.PipelineProject(this, 'Build', {
      description: `Builds ${EXAMPLE_SERVICE}, uploads the release and writes the zerodown deploy input`,
      buildSpec: codebuild.BuildSpec.fromObject(exampleBuildSpec(exampleDeployInput(clusterName))),
      environment: { buildImage: codebuild.LinuxBuildImage.STANDARD_7_0, computeType: codebuild.ComputeType.SMALL },
      environmentVariables: { RELEASE_BUCKET: { value: this.releaseBucket.bucketName } },
      encryptionKey: key,
      timeout: Duration.minutes(30),
    });
    const releases = this.releaseBucket.arnForObjects(`${EXAMPLE_SERVICE}/*`);
    this.project.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'UploadReleases', actions: ['s3:PutObject'], resources: [releases] }),
    );

    this.pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineType: codepipeline.PipelineType.V2,
      artifactBucket: artifacts,
      restartExecutionOnUpdate: false,
    });
    const source = new codepipeline.Artifact('Source');
    const buildOutput = new codepipeline.Artifact('BuildOutput');
    this.pipeline.addStage({
      stageName: 'Source',
      actions: [
        new actions.S3SourceAction({
          actionName: 'Source',
          bucket: this.sourceBucket,
          bucketKey: EXAMPLE_SOURCE_KEY,
          output: source,
          // Polling needs no CloudTrail trail, which an event trigger on an S3 source does.
          trigger: actions.S3Trigger.POLL,
        }),
      ],
    });
    this.pipeline.addStage({
      stageName: 'Build',
      actions: [
        new actions.CodeBuildAction({
          actionName: 'Build',
          project: this.project,
          input: source,
          outputs: [buildOutput],
        }),
      ],
    });
    addZeroDownStage(this.pipeline, {
      stageName: 'Deploy',
      cluster: props.cluster,
      workflow: 'deploy-service',
      input: ZeroDownStageInput.fromBuildOutput(buildOutput, exampleDeployInput(clusterName)),
    });
    addZeroDownStage(this.pipeline, {
      stageName: 'Patch',
      cluster: props.cluster,
      workflow: 'patch-server',
      input: ZeroDownStageInput.literal(examplePatchInput(clusterName)),
    });

    this.acknowledgeGrants(releases);
  }

  /** The wildcards CDK's own grants to the pipeline, its source action and the build carry, each with its reason. */
  private acknowledgeGrants(releases: string): void {
    const artifacts = `${this.pipeline.artifactBucket.bucketArn}/*`;
    const sourceRole = this.pipeline.node
      .findChild('Source')
      .node.findChild('Source')
      .node.findChild('CodePipelineActionRole');
    const buildRole = this.project.role;
    for (const role of [this.pipeline.role, sourceRole, buildRole]) {
      if (!role) continue;
      acknowledgeWildcardResource(
        role,
        artifacts,
        "Pipeline artifacts live under keys each run chooses in the pipeline's own artifact bucket.",
      );
      for (const action of [
        's3:GetObject*',
        's3:GetBucket*',
        's3:List*',
        's3:DeleteObject*',
        's3:Abort*',
        'kms:GenerateDataKey*',
        'kms:ReEncrypt*',
      ]) {
        acknowledgeWildcardAction(
          role,
          action,
          "CDK's grants that pass artifacts between stages: reads of the source object or of the pipeline's artifact " +
            'bucket, writes to that bucket, and the use of its key.',
        );
      }
    }
    if (!buildRole) return;
    acknowledgeWildcardResource(
      buildRole,
      releases,
      `The build uploads each release of ${EXAMPLE_SERVICE} under a key named after its version.`,
    );
    const projectName = this.project.projectName;
    acknowledgeWildcardResource(
      buildRole,
      this.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: `/aws/codebuild/${projectName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
      "CodeBuild writes each build's log stream, named per build, in the project's own log group.",
    );
    acknowledgeWildcardResource(
      buildRole,
      this.formatArn({ service: 'codebuild', resource: 'report-group', resourceName: `${projectName}-*` }),
      "CodeBuild's test reports go to report groups named after this project only, one per report.",
    );
  }
}
