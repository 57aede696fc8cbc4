import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clusterFilesFromContext, readClusterFile } from '../../cdk/app';
import { PROJECT_ROOT } from '../../cdk/paths';
import { ClusterModelError } from '../../functions/domain/errors';
import { cfnLintCommand } from '../../local/python-tools';

/**
 * Synthesis bundles every function: about 25 s on an idle 2-core machine, several times that on a busy one (over
 * 240 s was seen with two sandboxes and a full test run beside it). The limit only stops a synthesis that hangs.
 */
const SYNTH_LIMIT_MS = 600_000;
/** The test's own limit: the synthesis, then cfn-lint on its template. */
const SYNTH_TEST_LIMIT_MS = SYNTH_LIMIT_MS + 120_000;

/** Runs the pinned CDK CLI the way a user does, with the project's cdk.json. */
function cdkSynth(clusterFile: string) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-synth-'));
  const result = spawnSync(
    path.join(PROJECT_ROOT, 'node_modules', '.bin', 'cdk'),
    ['synth', '--quiet', '--no-notices', '-o', outdir, '-c', `zerodown:clusterFiles=${clusterFile}`],
    {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: SYNTH_LIMIT_MS,
      env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
    },
  );
  return { ...result, outdir };
}

describe('the CDK app', () => {
  it(
    'synthesizes the example cluster from the command line into templates cfn-lint accepts',
    () => {
      const { status, stderr, outdir } = cdkSynth('examples/clusters/demo.json');
      expect(stderr).not.toMatch(/Error/);
      expect(status).toBe(0);
      const template = path.join(outdir, 'ZeroDown-demo.template.json');
      expect(fs.existsSync(template)).toBe(true);
      const cfnLint = cfnLintCommand();
      const lint = spawnSync(cfnLint.command, [...cfnLint.args, '--format', 'json', template], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      });
      expect(JSON.parse(lint.stdout)).toEqual([]);
      fs.rmSync(outdir, { recursive: true, force: true });
    },
    SYNTH_TEST_LIMIT_MS,
  );

  it(
    'stops a user with a clear message naming each bad field of their cluster file',
    () => {
      const { status, stderr, outdir } = cdkSynth('test/fixtures/clusters/invalid-cluster.json');
      expect(status).not.toBe(0);
      expect(stderr).toContain(
        'ClusterModelError: Invalid cluster model in test/fixtures/clusters/invalid-cluster.json "broken-cluster": ' +
          'topology must be one of "active-active", "active-passive" (got "star"); traffic.listenerArn is required',
      );
      fs.rmSync(outdir, { recursive: true, force: true });
    },
    SYNTH_TEST_LIMIT_MS,
  );

  it('reads the cluster file list from context as a list or a comma-separated string', () => {
    expect(clusterFilesFromContext(['a.json'])).toEqual(['a.json']);
    expect(clusterFilesFromContext('a.json, b.json')).toEqual(['a.json', 'b.json']);
    expect(clusterFilesFromContext(undefined)).toEqual([]);
    expect(() => clusterFilesFromContext(42)).toThrow(ClusterModelError);
  });

  it('names a cluster file that does not exist or is not JSON', () => {
    expect(() => readClusterFile('clusters/missing.json')).toThrow(
      'Cluster file clusters/missing.json: cannot be read',
    );
    expect(() => readClusterFile('README.md')).toThrow(/README.md: is not valid JSON/);
  });
});
