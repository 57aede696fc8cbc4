import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plugin } from 'esbuild';
import { PROJECT_ROOT } from './paths';

/**
 * How every Lambda is bundled. The CDK construct (through `cdk/bundle-lambda.ts`), the bundle benchmark and the
 * bundle smoke tests all call `buildLambdaBundle`, so what is measured and tested is what is deployed.
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

/** The generated schema modules of the SDK v3 clients, one shape per exported constant. */
const SDK_SCHEMA_MODULE = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;
/** `const _xN = "xmlName";`: the short names the schema modules give their string constants. */
const STRING_CONSTANT = /^const (\w+) = ("(?:[^"\\\n]|\\.)*");$/gm;
/** `[_xN]:`: an object key computed from one of those constants. */
const COMPUTED_KEY = /\[(\w+)\]:/g;

/**
 * Lets esbuild drop the SDK shapes a function never uses.
 *
 * The schema modules write trait objects as `{ [_xN]: _BDM }`. esbuild cannot prove a computed key free of side
 * effects, so it keeps every shape of the service: 550 KB of the 830 KB of a bundle that only calls RunInstances.
 * Replacing each key computed from a module-level string constant with that string literal means the same object and
 * makes the unused shapes removable.
 */
export function sdkSchemaTreeShaking(): Plugin {
  return {
    name: 'zerodown-sdk-schema-tree-shaking',
    setup(build) {
      build.onLoad({ filter: SDK_SCHEMA_MODULE }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        return { contents: inlineConstantKeys(source), loader: 'js' };
      });
    },
  };
}

/** Replaces `[name]:` with `"value":` wherever `name` is a top-level `const name = "value";` of the module. */
export function inlineConstantKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const [, name, literal] of source.matchAll(STRING_CONSTANT)) {
    if (name !== undefined && literal !== undefined) constants.set(name, literal);
  }
  return source.replace(COMPUTED_KEY, (key, name: string) => {
    const literal = constants.get(name);
    return literal === undefined ? key : `${literal}:`;
  });
}

/** Bundles one handler entry exactly as deployed. Paths are relative to the project root or absolute. */
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
    // The SDK clients go into the bundle, so each function runs the SDK version it was tested with.
    external: [],
    plugins: [sdkSchemaTreeShaking()],
    metafile: true,
    logLevel: 'warning',
  });
}
