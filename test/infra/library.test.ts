import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildLambdaBundle, buildPowertoolsLayer, LAYER_MODULES_DIR, LAYER_PACKAGES } from '../../cdk/bundling';
import { HANDLER_METADATA_KEY } from '../../cdk/constructs/zerodown-function';
import { PROJECT_ROOT } from '../../cdk/paths';
import { CLUSTER_WORKFLOWS, stateMachineNameOf, WORKFLOWS } from '../../functions/domain/workflows';
import { stateMachinesIn } from '../../local/asl';
import { readCloudAssembly } from '../../local/synth';
import { commandsMissingFrom } from '../harness/cli-help';

/**
 * The construct library as a CDK user gets it: the package npm packs (so `files` is what is tested), installed as
 * node_modules/zerodown of an app of its own, the usage example compiled against its declarations through its
 * `exports`, then run with Node, bundling every function from the shipped sources.
 *
 * It costs about 60 s of CPU: the build 16 s, compiling the example 10 s, the synthesis (which bundles every function)
 * 25 s; several times that in wall time on a busy machine. The limits only stop a step that hangs.
 */
const STEP_LIMIT_MS = 240_000;
const EXAMPLE = path.join(PROJECT_ROOT, 'examples', 'library', 'app.ts');
const packageJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: STEP_LIMIT_MS,
    env: { ...process.env, ...env },
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stderr}`);
  }
  return result.stdout;
}

const link = (target: string, at: string) => {
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at, 'dir');
};

describe('the construct library', () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-library-'));
  const appDir = path.join(workDir, 'app');
  const installed = path.join(appDir, 'node_modules', 'zerodown');
  const outdir = path.join(appDir, 'cdk.out');
  let template: {
    Resources: Record<
      string,
      { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }
    >;
    Outputs: Record<string, { Value: unknown }>;
  };
  const bundleOf = (fn: { Properties?: Record<string, unknown> }) => {
    const key = (fn.Properties?.Code as { S3Key?: string } | undefined)?.S3Key ?? '';
    return path.join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
  };

  beforeAll(() => {
    run('npm', ['run', '--silent', 'build:lib'], PROJECT_ROOT);
    const [packed] = JSON.parse(
      run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], PROJECT_ROOT),
    ) as { filename: string }[];
    run('tar', ['-xzf', path.join(workDir, packed?.filename ?? ''), '-C', workDir], workDir);
    fs.mkdirSync(path.dirname(installed), { recursive: true });
    fs.renameSync(path.join(workDir, 'package'), installed);
    // What npm would install beside it: its dependencies and its peers, plus the example's own compile-time types.
    for (const name of [
      ...Object.keys(packageJson.dependencies),
      ...Object.keys(packageJson.peerDependencies),
      '@types/node',
    ]) {
      link(path.join(PROJECT_ROOT, 'node_modules', name), path.join(appDir, 'node_modules', name));
    }
    fs.copyFileSync(EXAMPLE, path.join(appDir, 'app.ts'));
    fs.copyFileSync(path.join(PROJECT_ROOT, 'examples', 'clusters', 'demo.json'), path.join(appDir, 'cluster.json'));
    fs.writeFileSync(
      path.join(appDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['app.ts'],
      }),
    );
    run(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], appDir);
    run(process.execPath, ['app.js'], appDir, { CDK_OUTDIR: outdir });
    template = JSON.parse(fs.readFileSync(path.join(outdir, 'ZeroDown-demo.template.json'), 'utf8'));
  });

  afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

  it('ships the built library, the functions it bundles and the kits, and not the repository', () => {
    expect(fs.existsSync(path.join(installed, 'dist', 'index.js'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'dist', 'index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'functions', 'notify.ts'))).toBe(true);
    expect(fs.readdirSync(path.join(installed, 'kits', 'node', 'files'))).toContain('zerodown-heartbeat');
    expect(fs.readdirSync(path.join(installed, 'kits', 'wso2-apim', 'files'))).toContain('zerodown-node');
    for (const absent of ['test', 'local', 'sandbox', 'cdk', 'statemachines', 'docs', 'index.ts']) {
      expect({ absent, shipped: fs.existsSync(path.join(installed, absent)) }).toEqual({ absent, shipped: false });
    }
  });

  it('exports the cluster construct, the kits and the model parser, and nothing deeper', () => {
    const script = [
      "const zerodown = require('zerodown');",
      'console.log(JSON.stringify(Object.keys(zerodown).sort()));',
      "try { require('zerodown/dist/cdk/paths'); } catch (error) { console.log(error.code); }",
    ].join('\n');
    const [exported, deep] = run(process.execPath, ['-e', script], appDir).trim().split('\n');
    expect(JSON.parse(exported ?? '[]')).toEqual(
      expect.arrayContaining([
        'ZeroDownCluster',
        'NodeKit',
        'nodeTags',
        'heartbeatInstallCommands',
        'fileInstallLines',
        'wso2ApimHealthChecks',
        'wso2ApimCommands',
        'wso2ApimTraffic',
        'wso2ApimConfig',
        'wso2ApimInstallCommands',
        'parseClusterModel',
        'ClusterModelError',
      ]),
    );
    expect(deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('synthesizes the example into the state machines and the outputs, every function bundled', () => {
    const stateMachines = Object.values(template.Resources)
      .filter((resource) => resource.Type === 'AWS::StepFunctions::StateMachine')
      .map((resource) => resource.Properties?.StateMachineName);
    expect(stateMachines.sort()).toEqual(
      CLUSTER_WORKFLOWS.map((workflow) => stateMachineNameOf('demo', workflow)).sort(),
    );
    // Each definition is a file asset of the stack, staged in the assembly, which runs as ASL once read back.
    const stack = readCloudAssembly(outdir).stack('ZeroDown-demo');
    for (const resource of Object.values(template.Resources)) {
      if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
      expect(resource.Properties?.DefinitionS3Location).toEqual({
        Bucket: expect.anything(),
        Key: expect.stringMatching(/^[0-9a-f]{64}\.json$/),
      });
      expect(resource.Properties?.DefinitionString).toBeUndefined();
    }
    const definitions = stateMachinesIn(stack.template, stack.env).map((machine) => machine.definition);
    expect(definitions).toHaveLength(CLUSTER_WORKFLOWS.length);
    for (const definition of definitions) expect(Object.keys(definition.States)).toContain(definition.StartAt);
    const outputs = Object.keys(template.Outputs).map((id) => id.replace(/^Cluster(\w+)[0-9A-F]{8}$/, '$1'));
    expect(outputs.sort()).toEqual(
      [
        ...CLUSTER_WORKFLOWS.flatMap((workflow) => [
          `${WORKFLOWS[workflow].constructId}Arn`,
          `${WORKFLOWS[workflow].constructId}Start`,
        ]),
        'TopicArn',
        'PagingTopicArn',
        'DashboardUrl',
        'NodePolicyArn',
      ].sort(),
    );
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(10);
    for (const fn of functions) {
      expect({ bundle: bundleOf(fn), bundled: fs.existsSync(bundleOf(fn)) }).toEqual({
        bundle: bundleOf(fn),
        bundled: true,
      });
    }
  });

  it("bundles a function from the package byte for byte as the repository's sources do", async () => {
    const notify = Object.values(template.Resources).find(
      (resource) => resource.Metadata?.[HANDLER_METADATA_KEY] === 'functions/notify.ts#handler',
    );
    if (notify === undefined) throw new Error('No notify function in the template');
    const fromRepository = path.join(workDir, 'repository-bundle', 'index.js');
    await buildLambdaBundle('functions/notify.ts', fromRepository);
    expect(fs.readFileSync(bundleOf(notify)).equals(fs.readFileSync(fromRepository))).toBe(true);
  });

  it('builds the Powertools layer from the installed packages, as the repository does', async () => {
    const layers = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::Lambda::LayerVersion',
    );
    expect(layers).toHaveLength(1);
    const key = ((layers[0]?.Properties?.Content as { S3Key?: string } | undefined)?.S3Key ?? '').replace(/\.zip$/, '');
    const fromPackage = path.join(outdir, `asset.${key}`);
    const fromRepository = path.join(workDir, 'repository-layer');
    await buildPowertoolsLayer(fromRepository);
    for (const name of LAYER_PACKAGES) {
      const module = path.join(LAYER_MODULES_DIR, name, 'index.js');
      expect(
        fs.readFileSync(path.join(fromPackage, module)).equals(fs.readFileSync(path.join(fromRepository, module))),
      ).toBe(true);
    }
  });

  it('runs the CLI from the package: every command listed, a model validated, the sandbox left to a clone', () => {
    const cli = (args: readonly string[]) =>
      spawnSync(process.execPath, [path.join(installed, 'cli', 'zerodown.cjs'), ...args], {
        cwd: appDir,
        encoding: 'utf8',
        timeout: STEP_LIMIT_MS,
      });
    const help = cli(['--help']);
    expect(help.status).toBe(0);
    expect(commandsMissingFrom(help.stdout)).toEqual([]);
    const validate = cli(['validate', 'cluster.json']);
    expect({ status: validate.status, stdout: validate.stdout }).toEqual({
      status: 0,
      stdout: expect.stringContaining('a valid model of cluster'),
    });
    const sandbox = cli(['sandbox', 'up']);
    expect({ status: sandbox.status, stderr: sandbox.stderr.trim() }).toEqual({
      status: 2,
      stderr: expect.stringMatching(/^zerodown: The sandbox runs from a clone of the zerodown repository[^\n]*$/),
    });
  });

  it('is the example docs/library.md shows', () => {
    const docs = fs.readFileSync(path.join(PROJECT_ROOT, 'docs', 'library.md'), 'utf8');
    expect(docs).toContain(`\`\`\`ts\n${fs.readFileSync(EXAMPLE, 'utf8')}\`\`\``);
  });
});
