import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './settings';
import type { CfnTemplate, StackEnvironment } from './template';

export interface SynthesizedStack {
  readonly stackName: string;
  /** The template as synthesized, whose state machines' definitions are S3 assets (DefinitionS3Location). */
  readonly templateFile: string;
  /** The template with each state machine's definition read back from its staged asset into DefinitionString. */
  readonly template: CfnTemplate;
  readonly env: StackEnvironment;
}

export interface SynthesizedApp {
  readonly outdir: string;
  readonly stacks: readonly SynthesizedStack[];
  stack(stackName: string): SynthesizedStack;
}

interface ManifestArtifact {
  type: string;
  environment?: string;
  properties?: { templateFile?: string; stackName?: string; file?: string };
  dependencies?: string[];
}

/** The part of a stack's asset manifest (`<stack>.assets.json`) that maps an S3 object key to its staged file. */
interface AssetManifest {
  files?: Record<string, { source?: { path?: string }; destinations?: Record<string, { objectKey?: string }> }>;
}

function environmentOf(artifact: ManifestArtifact, stackName: string): StackEnvironment {
  const match = /^aws:\/\/([^/]+)\/([^/]+)$/.exec(artifact.environment ?? '');
  const account = match?.[1] && /^\d{12}$/.test(match[1]) ? match[1] : LOCAL_ACCOUNT;
  const region = match?.[2] && !match[2].startsWith('unknown') ? match[2] : LOCAL_REGION;
  return { account, region, stackName };
}

/** By S3 object key, the file the assembly staged for it, from the asset manifests the stack depends on. */
function stagedFilesOf(outdir: string, artifacts: Record<string, ManifestArtifact>, artifact: ManifestArtifact) {
  const staged = new Map<string, string>();
  for (const dependency of artifact.dependencies ?? []) {
    const assets = artifacts[dependency];
    if (assets?.type !== 'cdk:asset-manifest' || !assets.properties?.file) continue;
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, assets.properties.file), 'utf8')) as AssetManifest;
    for (const file of Object.values(manifest.files ?? {})) {
      if (!file.source?.path) continue;
      for (const destination of Object.values(file.destinations ?? {})) {
        if (destination.objectKey) staged.set(destination.objectKey, path.resolve(outdir, file.source.path));
      }
    }
  }
  return staged;
}

/**
 * The template with each state machine's definition read back from its staged asset into DefinitionString, as if
 * the template carried it: what reads definitions (the local runner, the sandbox, the diagrams, the checks) reads
 * one shape. The stack keeps definitions in S3 (DefinitionS3Location) for the size of its template.
 */
function withDefinitionsInline(
  template: CfnTemplate,
  stackName: string,
  stagedFile: (key: string) => string | undefined,
): CfnTemplate {
  const resources = Object.entries(template.Resources).map(([logicalId, resource]) => {
    const location = resource.Properties?.DefinitionS3Location as { Key?: unknown } | undefined;
    if (resource.Type !== 'AWS::StepFunctions::StateMachine' || location === undefined) return [logicalId, resource];
    const key = location.Key;
    const file = typeof key === 'string' ? stagedFile(key) : undefined;
    if (!file || !fs.existsSync(file)) {
      throw new Error(
        `${stackName}/${logicalId}: the definition's asset (S3 key ${JSON.stringify(key)}) is not in the cloud ` +
          `assembly${file ? ` (no ${file})` : ''}; synthesize the app again`,
      );
    }
    const { DefinitionS3Location: _location, ...properties } = resource.Properties ?? {};
    return [logicalId, { ...resource, Properties: { ...properties, DefinitionString: fs.readFileSync(file, 'utf8') } }];
  });
  return { ...template, Resources: Object.fromEntries(resources) };
}

/**
 * Reads the stacks of a synthesized cloud assembly: their templates, each state machine's definition put back in
 * the template from its staged asset, and their environments.
 */
export function readCloudAssembly(outdir: string): SynthesizedApp {
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, ManifestArtifact>;
  };
  const stacks = Object.entries(manifest.artifacts)
    .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
    .map(([id, artifact]): SynthesizedStack => {
      const stackName = artifact.properties?.stackName ?? id;
      const templateFile = path.join(outdir, artifact.properties?.templateFile ?? `${id}.template.json`);
      let staged: Map<string, string> | undefined;
      const template = withDefinitionsInline(
        JSON.parse(fs.readFileSync(templateFile, 'utf8')) as CfnTemplate,
        stackName,
        (key) => {
          staged ??= stagedFilesOf(outdir, manifest.artifacts, artifact);
          return staged.get(key);
        },
      );
      return { stackName, templateFile, template, env: environmentOf(artifact, stackName) };
    });
  return {
    outdir,
    stacks,
    stack(stackName) {
      const found = stacks.find((stack) => stack.stackName === stackName);
      if (!found) throw new Error(`No stack ${stackName}; have ${stacks.map((s) => s.stackName).join(', ')}`);
      return found;
    },
  };
}
