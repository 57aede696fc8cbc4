import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../../cdk/paths';

/**
 * The infrastructure code shares only the domain modules with the Lambdas: synthesis must not load an AWS SDK
 * package. The app is synthesized in a fresh Node process in which loading any `@aws-sdk/*` module throws.
 */

const BLOCKER = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith('@aws-sdk/')) throw new Error('synthesis loaded ' + request);
  return resolve.call(this, request, ...rest);
};
`;

const SYNTH = `
const { App } = require('aws-cdk-lib');
const { buildApp, readClusterFile } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'cdk', 'app.ts'))});
const app = new App({ outdir: process.argv[1], context: { 'aws:cdk:bundling-stacks': [] } });
buildApp(app, [readClusterFile('examples/clusters/demo.json')]);
app.synth();
process.stdout.write('synthesized');
`;

/** Synthesis of the example app takes a few seconds idle; the limit only stops one that hangs. */
const SYNTH_LIMIT_MS = 240_000;

describe('synthesis', () => {
  it('loads no AWS SDK module', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-no-sdk-'));
    try {
      const blocker = path.join(dir, 'block-sdk.cjs');
      fs.writeFileSync(blocker, BLOCKER);
      const result = spawnSync(
        process.execPath,
        [
          '--require',
          blocker,
          '--import',
          pathToFileURL(require.resolve('tsx')).href,
          '-e',
          SYNTH,
          path.join(dir, 'cdk.out'),
        ],
        { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: SYNTH_LIMIT_MS },
      );

      expect(result.stderr).not.toContain('synthesis loaded');
      expect(result.stdout).toBe('synthesized');
      expect(fs.existsSync(path.join(dir, 'cdk.out', 'ZeroDown-demo.template.json'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
