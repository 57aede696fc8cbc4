/**
 * Bundles one Lambda handler for CDK asset staging: `tsx cdk/bundle-lambda.ts <entry> <output dir>`, or with
 * `--powertools-layer` in place of the entry, the Powertools layer the functions share.
 *
 * CDK's local bundling hook is synchronous and esbuild plugins need the asynchronous API, so the construct runs this
 * in a child process: with tsx from the sources, and compiled (`dist/cdk/bundle-lambda.js`) from the built library.
 */
import * as path from 'node:path';
import { buildLambdaBundle, buildPowertoolsLayer, POWERTOOLS_LAYER_ARG } from './bundling';

async function main(): Promise<void> {
  const [entry, outputDir] = process.argv.slice(2);
  if (entry === undefined || outputDir === undefined) {
    throw new Error('usage: tsx cdk/bundle-lambda.ts <entry> <output dir>');
  }
  if (entry === POWERTOOLS_LAYER_ARG) await buildPowertoolsLayer(outputDir);
  else await buildLambdaBundle(entry, path.join(outputDir, 'index.js'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
