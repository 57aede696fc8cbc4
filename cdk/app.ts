import * as fs from 'node:fs';
import * as path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type ClusterModelInput, parseClusterModel } from '../functions/domain/cluster-model';
import { checkCommandSources } from '../functions/domain/command-sources';
import { ClusterModelError } from '../functions/domain/errors';
import { PROJECT_ROOT } from './paths';
import { DrStack } from './stacks/dr-stack';
import { OrchestrationStack } from './stacks/orchestration-stack';
import { ReferenceClusterStack } from './stacks/reference-cluster-stack';

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
    if (model.dr) {
      new DrStack(app, drStackIdFor(model.name), {
        model,
        env: { region: model.dr.region, account: process.env.CDK_DEFAULT_ACCOUNT },
        description: `zerodown DR orchestration for cluster ${model.name}, in ${model.dr.region}`,
      });
    }
    return stack;
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stacks;
}

export const REFERENCE_CONTEXT_KEY = 'reference';
export const REFERENCE_STACK_ID = 'ZeroDown-reference';

/**
 * The reference cluster stack alone (`cdk deploy -c reference=true`): a VPC, a load balancer, two nodes and zerodown
 * protecting them. Its region is the context's `region`, else the CLI's default region, else us-east-1: the model needs
 * one it can name.
 */
export function buildReferenceApp(app: App, region: string | undefined): ReferenceClusterStack {
  const stack = new ReferenceClusterStack(app, REFERENCE_STACK_ID, {
    env: { region: region ?? 'us-east-1', account: process.env.CDK_DEFAULT_ACCOUNT },
    description: 'zerodown reference cluster: a VPC, an Application Load Balancer, two nodes, and zerodown',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
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
