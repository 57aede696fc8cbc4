import { AssetHashType, CfnResource, DockerImage, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, POWERTOOLS_SERVICE } from '../../functions/domain/metric-names';
import { PROJECT_ROOT } from '../paths';
import { bundleLocally } from './local-bundling';
import { powertoolsLayer } from './powertools-layer';

/** Resource metadata that names a function's handler module, so local runners can call the real code in process. */
export const HANDLER_METADATA_KEY = 'zerodown:handler';

export interface ZeroDownFunctionProps {
  /** The handler's entry file, relative to the project root, such as `functions/acquire-lock.ts`. */
  readonly entry: string;
  /** @default 'handler' */
  readonly handler?: string;
  readonly description: string;
  /** @default - no extra environment variables */
  readonly environment?: Record<string, string>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Key for the function's log group. @default - the log group uses CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;
  /** The lowest level of the function's own log lines that reach its log group. @default INFO */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Runs the function in these subnets, for functions that call the nodes' private IPs.
   * @default - outside any VPC
   */
  readonly vpc?: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
}

/**
 * A Lambda function with zerodown's defaults: the newest Node.js runtime on arm64, bundled by the local esbuild
 * with the SDK clients inside (so the bundle pins the SDK version we test against), Powertools from the layer the
 * stack's functions share, X-Ray tracing, and its own log group with a retention and JSON lines.
 */
export class ZeroDownFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly logGroup: logs.LogGroup;
  /** The execution role. It starts with write access to the function's own log group and nothing else. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: ZeroDownFunctionProps) {
    super(scope, id);
    const handler = props.handler ?? 'handler';

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    // Our own role instead of AWSLambdaBasicExecutionRole: logs go to this function's log group only.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup.grantWrite(this.role);
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only for actions without resource-level permissions: X-Ray trace upload, read-only Describe* and Get* ' +
        'calls, SSM command polling, and the network interfaces Lambda manages for functions in a VPC. ' +
        'Every mutating action is scoped by ARN or by the cluster tag (asserted in test/infra).',
    });

    this.function = new lambda.Function(this, 'Function', {
      role: this.role,
      code: lambda.Code.fromAsset(PROJECT_ROOT, {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never used: local bundling always succeeds or throws, and this project needs no Docker.
          image: DockerImage.fromRegistry('dummy'),
          // Part of the asset's cache key: without it every function would share the first function's bundle.
          command: ['cdk/bundle-lambda.ts', props.entry],
          local: { tryBundle: (outputDir) => bundleLocally([props.entry, outputDir]) },
        },
      }),
      handler: `index.${handler}`,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      layers: [powertoolsLayer(this)],
      // JSON logs let Lambda filter by level before a line is stored; Powertools' Logger follows the same level.
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel ?? lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: POWERTOOLS_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
    });
    const resource = this.function.node.defaultChild;
    if (resource instanceof CfnResource) resource.addMetadata(HANDLER_METADATA_KEY, `${props.entry}#${handler}`);
    if (props.vpc && resource instanceof lambda.CfnFunction) {
      // The subnets and groups come from the cluster model as ids; Lambda needs nothing else of the VPC.
      resource.vpcConfig = { subnetIds: [...props.vpc.subnetIds], securityGroupIds: [...props.vpc.securityGroupIds] };
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
  }
}
