import * as fs from 'node:fs';
import * as path from 'node:path';
import { SYNTH_ERROR_FILE, SYNTH_OUT_DIR, TEST_ACCOUNT, TEST_REGION } from './settings';
import type { CfnTemplate, StackEnvironment } from './template';
import { buildTestApp } from './test-app';

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

/**
 * Synthesizes the test app (the production stacks plus the harness's own) once per test run, in jest's global
 * setup. A failure, such as an unacknowledged cdk-nag finding, is kept and reported by every test that reads the
 * templates, rather than stopping the run.
 */
export function synthesizeTestAppToDisk(outdir = SYNTH_OUT_DIR): void {
  fs.rmSync(outdir, { recursive: true, force: true });
  try {
    buildTestApp(outdir).synth();
  } catch (error) {
    fs.mkdirSync(path.dirname(SYNTH_ERROR_FILE), { recursive: true });
    fs.writeFileSync(SYNTH_ERROR_FILE, error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
}

interface ManifestArtifact {
  type: string;
  environment?: string;
  properties?: { templateFile?: string; stackName?: string };
}

function environmentOf(artifact: ManifestArtifact, stackName: string): StackEnvironment {
  const match = /^aws:\/\/([^/]+)\/([^/]+)$/.exec(artifact.environment ?? '');
  const account = match?.[1] && /^\d{12}$/.test(match[1]) ? match[1] : TEST_ACCOUNT;
  const region = match?.[2] && !match[2].startsWith('unknown') ? match[2] : TEST_REGION;
  return { account, region, stackName };
}

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

let cached: SynthesizedApp | undefined;

/** The app synthesized by global setup. Throws the synthesis error if there was one. */
export function synthesizedApp(): SynthesizedApp {
  if (fs.existsSync(SYNTH_ERROR_FILE)) {
    throw new Error(`Synthesis failed in global setup:\n${fs.readFileSync(SYNTH_ERROR_FILE, 'utf8')}`);
  }
  cached ??= readCloudAssembly(SYNTH_OUT_DIR);
  return cached;
}
