import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCloudAssembly, type SynthesizedApp } from '../../local/synth';
import { SYNTH_ERROR_FILE, SYNTH_OUT_DIR } from './settings';
import { buildTestApp } from './test-app';

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

let cached: SynthesizedApp | undefined;

/** The app synthesized by global setup. Throws the synthesis error if there was one. */
export function synthesizedApp(): SynthesizedApp {
  if (fs.existsSync(SYNTH_ERROR_FILE)) {
    throw new Error(`Synthesis failed in global setup:\n${fs.readFileSync(SYNTH_ERROR_FILE, 'utf8')}`);
  }
  cached ??= readCloudAssembly(SYNTH_OUT_DIR);
  return cached;
}
