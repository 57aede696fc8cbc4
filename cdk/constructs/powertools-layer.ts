import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { PROJECT_ROOT } from '../paths';

const LAYER_ID = 'ZeroDownPowertoolsLayer';
const BUNDLE_TIMEOUT_MS = 120_000;

/**
 * The layer of Powertools for AWS Lambda (Logger and Metrics) that every zerodown function in a stack shares, built
 * from the versions the project pins. Our own layer rather than the public Powertools one: it needs no account
 * outside the user's, exists in every partition, and carries exactly the code the tests ran.
 */
export function powertoolsLayer(scope: Construct): lambda.ILayerVersion {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild(LAYER_ID);
  if (existing instanceof lambda.LayerVersion) return existing;
  return new lambda.LayerVersion(stack, LAYER_ID, {
    code: lambda.Code.fromAsset(PROJECT_ROOT, {
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never used: local bundling always succeeds or throws, and this project needs no Docker.
        image: DockerImage.fromRegistry('dummy'),
        command: ['cdk/bundle-lambda.ts', '--powertools-layer'],
        local: { tryBundle: (outputDir) => bundleLocally(['--powertools-layer', outputDir]) },
      },
    }),
    compatibleRuntimes: [lambda.Runtime.NODEJS_24_X],
    compatibleArchitectures: [lambda.Architecture.ARM_64],
    description: 'Powertools for AWS Lambda (Logger, Metrics) for the zerodown functions',
    license: 'MIT-0',
  });
}

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
  const what = args[0] === '--powertools-layer' ? 'the Powertools layer' : args[0];
  if (child.error) throw new Error(`Bundling ${what} failed: ${child.error.message}`);
  if (child.status !== 0) throw new Error(`Bundling ${what} failed:\n${child.stderr}`);
  return true;
}
