import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { POWERTOOLS_LAYER_ARG } from '../bundling';
import { PROJECT_ROOT } from '../paths';

const BUNDLE_TIMEOUT_MS = 120_000;

/**
 * The bundler's command line. From the sources, tsx runs `cdk/bundle-lambda.ts`; from the built library (this module
 * compiled to JavaScript), Node runs the compiled bundler, so a project that uses the library needs no tsx.
 */
function bundlerArgs(): string[] {
  return path.extname(__filename) === '.js'
    ? [path.join(__dirname, '..', 'bundle-lambda.js')]
    : [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'cdk', 'bundle-lambda.ts')];
}

/**
 * Runs the bundler in a child process with these arguments, since CDK's local bundling hook is synchronous and
 * esbuild's plugins need its asynchronous API.
 */
export function bundleLocally(args: readonly string[]): boolean {
  const child = spawnSync(process.execPath, [...bundlerArgs(), ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: BUNDLE_TIMEOUT_MS,
  });
  const what = args[0] === POWERTOOLS_LAYER_ARG ? 'the Powertools layer' : args[0];
  if (child.error) throw new Error(`Bundling ${what} failed: ${child.error.message}`);
  if (child.status !== 0) throw new Error(`Bundling ${what} failed:\n${child.stderr}`);
  return true;
}
