import * as path from 'node:path';
import { PROJECT_ROOT } from './paths';

/**
 * How every Lambda is bundled, shared by the CDK construct and the bundle benchmark so that what is measured is
 * what is deployed.
 */
export const LAMBDA_BUNDLING = {
  minify: true,
  sourcemap: true,
  target: 'node24',
  format: 'cjs',
  // The SDK's ES module builds tree-shake far better than its CommonJS ones (about 40% smaller bundles).
  mainFields: ['module', 'main'],
  alias: {
    '@aws-sdk/credential-provider-node': path.join(
      PROJECT_ROOT,
      'functions',
      'lib',
      'clients',
      'lambda-credentials.ts',
    ),
  },
} as const;

/** Bundles one handler entry exactly as deployed, for the benchmark and the bundle smoke tests. */
export async function buildLambdaBundle(entry: string, outfile: string) {
  const esbuild = await import('esbuild');
  return esbuild.build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    ...LAMBDA_BUNDLING,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    external: [],
    metafile: true,
    logLevel: 'silent',
  });
}
