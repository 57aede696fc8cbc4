import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './settings';
import type { CfnTemplate, StackEnvironment } from './template';

export interface SynthesizedStack {
  readonly stackName: string;
  readonly templateFile: string;
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
  properties?: { templateFile?: string; stackName?: string };
}

function environmentOf(artifact: ManifestArtifact, stackName: string): StackEnvironment {
  const match = /^aws:\/\/([^/]+)\/([^/]+)$/.exec(artifact.environment ?? '');
  const account = match?.[1] && /^\d{12}$/.test(match[1]) ? match[1] : LOCAL_ACCOUNT;
  const region = match?.[2] && !match[2].startsWith('unknown') ? match[2] : LOCAL_REGION;
  return { account, region, stackName };
}

/** Reads the stacks of a synthesized cloud assembly: their templates and environments. */
export function readCloudAssembly(outdir: string): SynthesizedApp {
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, ManifestArtifact>;
  };
  const stacks = Object.entries(manifest.artifacts)
    .filter(([, artifact]) => artifact.type === 'aws:cloudformation:stack')
    .map(([id, artifact]): SynthesizedStack => {
      const stackName = artifact.properties?.stackName ?? id;
      const templateFile = path.join(outdir, artifact.properties?.templateFile ?? `${id}.template.json`);
      const template = JSON.parse(fs.readFileSync(templateFile, 'utf8')) as CfnTemplate;
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
