import * as fs from 'node:fs';
import * as path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type ClusterModelInput, parseClusterModel } from '../functions/domain/cluster-model';
import { checkCommandSources } from '../functions/domain/command-sources';
import { ClusterModelError } from '../functions/domain/errors';
import { PROJECT_ROOT } from './paths';
import { DrStack } from './stacks/dr-stack';
import { ExamplePipelineStack, exampleReleaseBucketName } from './stacks/example-pipeline-stack';
import { OrchestrationStack } from './stacks/orchestration-stack';
import { ReferenceClusterStack } from './stacks/reference-cluster-stack';
import { ReferenceDrSiteStack } from './stacks/reference-dr-site-stack';

export const CLUSTER_FILES_CONTEXT_KEY = 'zerodown:clusterFiles';

export function stackIdFor(clusterName: string): string {
  return `ZeroDown-${clusterName}`;
}

export function drStackIdFor(clusterName: string): string {
  return `ZeroDown-${clusterName}-dr`;
}

/** Adds one orchestration stack per cluster, and the cdk-nag AwsSolutions checks over the whole app. */
export function buildApp(app: App, models: readonly ClusterModelInput[]): OrchestrationStack[] {
  const names = new Set<string>();
  const stacks = models.map((model) => {
    if (names.has(model.name)) {
      throw new ClusterModelError('Duplicate cluster', [{ path: 'name', message: `"${model.name}" is defined twice` }]);
    }
    names.add(model.name);
    const stack = new OrchestrationStack(app, stackIdFor(model.name), {
      model,
      env: { region: model.region, account: process.env.CDK_DEFAULT_ACCOUNT },
      description: `zerodown orchestration for cluster ${model.name}`,
    });
    if (model.dr) addDrStack(app, model, model.dr.region);
    return stack;
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stacks;
}

/** The DR orchestration of a cluster whose model has a `dr` block, in the DR region. */
function addDrStack(
  app: App,
  model: ClusterModelInput,
  drRegion: string,
  props: { crossRegionReferences?: boolean } = {},
): DrStack {
  return new DrStack(app, drStackIdFor(model.name), {
    model,
    env: { region: drRegion, account: process.env.CDK_DEFAULT_ACCOUNT },
    description: `zerodown DR orchestration for cluster ${model.name}, in ${drRegion}`,
    ...props,
  });
}

export const EXAMPLE_PIPELINE_CONTEXT_KEY = 'examplePipeline';
/** The cluster the example pipeline deploys to. */
export const EXAMPLE_PIPELINE_CLUSTER_FILE = 'examples/clusters/demo.json';

export function pipelineStackIdFor(clusterName: string): string {
  return `ZeroDown-${clusterName}-pipeline`;
}

/**
 * The example pipeline (`cdk deploy -c examplePipeline=true --all`): the cluster's orchestration stack, whose nodes
 * may read the releases the pipeline builds, and the pipeline's own stack, which runs the cluster's deploy-service
 * and patch-server and deploys after it.
 */
export function buildExamplePipelineApp(
  app: App,
  model: ClusterModelInput,
): { orchestration: OrchestrationStack; pipeline: ExamplePipelineStack } {
  const env = { region: model.region, account: process.env.CDK_DEFAULT_ACCOUNT };
  const releaseBucketName = exampleReleaseBucketName(model.name, model.region);
  const orchestration = new OrchestrationStack(app, stackIdFor(model.name), {
    model,
    env,
    description: `zerodown orchestration for cluster ${model.name}`,
    artifactBuckets: [releaseBucketName],
  });
  if (model.dr) addDrStack(app, model, model.dr.region);
  const pipeline = new ExamplePipelineStack(app, pipelineStackIdFor(model.name), {
    env,
    description: `zerodown example pipeline for cluster ${model.name}: build, deploy-service, patch-server`,
    cluster: orchestration.cluster,
    releaseBucketName,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { orchestration, pipeline };
}

export const REFERENCE_CONTEXT_KEY = 'reference';
export const REFERENCE_STACK_ID = 'ZeroDown-reference';
export const REFERENCE_DR_SITE_STACK_ID = 'ZeroDown-reference-dr-site';
/** The context keys of the reference cluster's DR variant: all three, or none. */
export const DR_REGION_CONTEXT_KEY = 'drRegion';
export const HOSTED_ZONE_ID_CONTEXT_KEY = 'hostedZoneId';
export const RECORD_NAME_CONTEXT_KEY = 'recordName';

export interface ReferenceDrOptions {
  /** The DR region, which must differ from the cluster's. */
  readonly region: string;
  /** The operator's public hosted zone. */
  readonly hostedZoneId: string;
  /** The cluster's DNS name in that zone. */
  readonly recordName: string;
}

/**
 * The reference cluster stack (`cdk deploy -c reference=true`): a VPC, a load balancer, two nodes and zerodown
 * protecting them. Its region is the context's `region`, else the CLI's default region, else us-east-1: the model needs
 * one it can name. With `dr`, also the DR site (`ZeroDown-reference-dr-site`) and the cluster's DR orchestration
 * (`ZeroDown-reference-dr`), both in the DR region.
 */
export function buildReferenceApp(
  app: App,
  region: string | undefined,
  dr?: ReferenceDrOptions,
): ReferenceClusterStack {
  const env = (stackRegion: string) => ({ region: stackRegion, account: process.env.CDK_DEFAULT_ACCOUNT });
  let drSite: ReferenceDrSiteStack | undefined;
  if (dr) {
    // The DR site's ids and ARNs go into the primary's model and records, and the primary's into the DR stack's copy
    // of the model: references across regions. Weak references read the producing stack's outputs with
    // Fn::GetStackOutput when the consumer deploys. That synthesizes offline, where a parameter lookup
    // (StringParameter.valueFromLookup) needs credentials at synthesis, and needs no custom resource, where strong
    // references (crossRegionReferences alone) add an export writer and reader, Lambda functions that also refuse to
    // change a value in use: replacing a primary node in CloudFormation would fail while the DR stack names it.
    // A reference is read on the consumer's deployment, so deploy the stacks together (`--all`), in dependency order.
    app.node.setContext(cxapi.DEFAULT_CROSS_STACK_REFERENCES, 'weak');
    drSite = new ReferenceDrSiteStack(app, REFERENCE_DR_SITE_STACK_ID, {
      env: env(dr.region),
      description: 'zerodown reference cluster DR site: a VPC, an Application Load Balancer, a launch template',
    });
  }
  const stack = new ReferenceClusterStack(app, REFERENCE_STACK_ID, {
    env: env(region ?? 'us-east-1'),
    description: 'zerodown reference cluster: a VPC, an Application Load Balancer, two nodes, and zerodown',
    ...(dr && drSite ? { dr: { site: drSite, hostedZoneId: dr.hostedZoneId, recordName: dr.recordName } } : {}),
  });
  if (dr && drSite) {
    addDrStack(app, stack.modelInput, dr.region, {
      // The primary's role ARN and ids are used as they are, rather than CDK naming the primary's roles for them.
      crossRegionReferences: true,
    });
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

/**
 * The DR variant's settings from the context keys `drRegion`, `hostedZoneId` and `recordName`: none of them means no
 * DR site; some of them is a mistake, named here rather than left to a half-built DR site.
 */
export function referenceDrFromContext(context: (key: string) => unknown): ReferenceDrOptions | undefined {
  const keys = [DR_REGION_CONTEXT_KEY, HOSTED_ZONE_ID_CONTEXT_KEY, RECORD_NAME_CONTEXT_KEY] as const;
  const values = keys.map((key) => context(key));
  if (values.every((value) => value === undefined)) return undefined;
  const issues = keys.flatMap((key, index) =>
    typeof values[index] === 'string' && values[index] !== ''
      ? []
      : [{ path: key, message: `is required with ${keys.filter((other) => other !== key).join(' and ')}` }],
  );
  if (issues.length > 0) throw new ClusterModelError('Invalid CDK context for the reference DR site', issues);
  const [drRegion, hostedZoneId, recordName] = values as string[];
  return { region: drRegion ?? '', hostedZoneId: hostedZoneId ?? '', recordName: recordName ?? '' };
}

/** The cluster files named in the `zerodown:clusterFiles` context: a list, or one comma-separated string. */
export function clusterFilesFromContext(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string')
    return value
      .split(',')
      .map((file) => file.trim())
      .filter(Boolean);
  if (Array.isArray(value) && value.every((file) => typeof file === 'string')) return value;
  throw new ClusterModelError('Invalid CDK context', [
    { path: CLUSTER_FILES_CONTEXT_KEY, message: 'must be a list of file paths or a comma-separated string' },
  ]);
}

/** Reads and validates a cluster model file; relative paths are taken from the project root, where cdk.json is. */
export function readClusterFile(file: string): ClusterModelInput {
  const fullPath = path.resolve(PROJECT_ROOT, file);
  let text: string;
  try {
    text = fs.readFileSync(fullPath, 'utf8');
  } catch (error) {
    throw new ClusterModelError(`Cluster file ${file}`, [{ path: '', message: 'cannot be read' }], { cause: error });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ClusterModelError(`Cluster file ${file}`, [{ path: '', message: 'is not valid JSON' }], { cause: error });
  }
  checkCommandSources(parseClusterModel(document, `cluster model in ${file}`), `cluster model in ${file}`);
  return document as ClusterModelInput;
}
