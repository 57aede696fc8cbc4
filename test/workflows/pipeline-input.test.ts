import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildExecutionInput,
  buildInputFile,
  DEFAULT_EXECUTION_NAME_PREFIX,
  writeBuildInputCommand,
  ZeroDownStageInput,
} from '../../cdk/constructs/pipeline-stage';
import { exampleDeployInput, examplePatchInput } from '../../cdk/stacks/example-pipeline-stack';
import { failedCommand } from '../../local/faults';
import { type LocalExecutionResult, runLocally } from '../../local/local-sfn';
import { useFakeNodes, useFaults } from '../harness/cleanup';
import { useMoto } from '../harness/moto';
import { workflowFixture } from '../harness/workflow-fixture';

/**
 * A zerodown stage in CodePipeline starts its workflow with the build's input file, or with the literal input in its
 * configuration, as they are. These run the test cluster's state machines with the real handlers, on exactly that.
 */

/** The statuses with which the Step Functions invoke action fails its stage (Standard state machines). */
const FAILS_THE_STAGE = ['FAILED', 'TIMED_OUT', 'ABORTED'];

const CLUSTER = 'test-cluster';
const ARTIFACT = 's3://zerodown-test-cluster-releases-123456789012-us-east-1/orders-api/1.4.0/orders-api.zip';

/**
 * Runs the build's command (the one in the example's buildspec) in a shell with the build's variables, and answers
 * what the action would read from the output artifact: the file's contents, parsed as Step Functions parses them.
 */
function inputTheBuildWrites(environment: Record<string, string>): Record<string, unknown> {
  const spec = exampleDeployInput(CLUSTER);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-build-'));
  try {
    execFileSync('sh', ['-c', writeBuildInputCommand(spec)], {
      cwd: dir,
      env: { PATH: process.env.PATH, ...environment },
    });
    const written = JSON.parse(fs.readFileSync(path.join(dir, buildInputFile(spec)), 'utf8'));
    expect(written).toEqual(buildExecutionInput(spec, environment));
    return written;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The execution name the action gives: its prefix, a hyphen and the action execution id. */
const actionExecutionName = () => `${DEFAULT_EXECUTION_NAME_PREFIX}-${randomUUID()}`;

const failsTheStage = (execution: LocalExecutionResult) => FAILS_THE_STAGE.includes(execution.status);

describe('deploy-service started by a pipeline stage with the build output', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { stack, prepare, expectCleanCluster, failureOf } = workflowFixture({
    stateMachine: 'deploy-service',
    defaultInput: {},
    onCommand: () => undefined,
  });
  const run = (input: Record<string, unknown>) =>
    runLocally({
      stack: stack(),
      stateMachine: 'deploy-service',
      input: input as never,
      executionName: actionExecutionName(),
      timeScale: 0.001,
    });

  it('deploys the artifact the build uploaded and succeeds, which passes the stage', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    const manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId;

    const execution = await run(inputTheBuildWrites({ ARTIFACT_URI: ARTIFACT }));

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands[0]).toMatchObject({ instanceIds: [manager], parameters: { Artifact: [ARTIFACT] } });
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('ends FAILED after rolling back when the deploy command fails, which fails the stage', async () => {
    const { cluster } = await prepare('active-passive');
    const manager = cluster.model.nodes.find((node) => node.role === 'manager')?.instanceId ?? '';
    failedCommand(manager, { output: 'orders-api: cannot unpack the archive' });

    const execution = await run(inputTheBuildWrites({ ARTIFACT_URI: ARTIFACT }));

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'CommandFailedError' });
    expect(failsTheStage(execution)).toBe(true);
    expect(execution.path).toContain('Roll back: release the cluster lock');
    expect(execution.path.at(-1)).toBe('Fail after rolling back');
    expect(execution.cause).toMatch(/cannot unpack the archive/);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });

  it('refuses an artifact the build got wrong before touching anything, which fails the stage', async () => {
    await prepare('active-passive');

    const execution = await run(inputTheBuildWrites({ ARTIFACT_URI: 'file:///tmp/orders-api.zip' }));

    expect(failureOf(execution)).toMatchObject({ status: 'FAILED', error: 'InputValidationError' });
    expect(failsTheStage(execution)).toBe(true);
    expect(execution.path).toEqual(['Validate the request']);
  });

  it('stops the build, with no input written, when a value would break the JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-build-'));
    try {
      for (const environment of [{}, { ARTIFACT_URI: 's3://bucket/a"b.zip' }, { ARTIFACT_URI: 's3://bucket/a\\b' }]) {
        expect(() =>
          execFileSync('sh', ['-c', writeBuildInputCommand(exampleDeployInput(CLUSTER))], {
            cwd: dir,
            env: { PATH: process.env.PATH, ...environment },
            stdio: 'pipe',
          }),
        ).toThrow(/ARTIFACT_URI must be set, without quotes/);
        expect(fs.readdirSync(dir)).toEqual([]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('patch-server started by a pipeline stage with a literal input', () => {
  useMoto();
  useFaults();
  useFakeNodes();
  const { stack, prepare, expectCleanCluster, failureOf } = workflowFixture({
    stateMachine: 'patch-server',
    defaultInput: {},
    onCommand: () => undefined,
  });

  it('patches every node and succeeds with the Input string of the action configuration', async () => {
    const { cluster, simulated } = await prepare('active-passive');
    // What the action's configuration carries: the literal, serialized at synthesis, checked for this cluster.
    const configured = ZeroDownStageInput.literal(examplePatchInput(CLUSTER)).bind('patch-server', CLUSTER)
      .input as string;

    const execution = await runLocally({
      stack: stack(),
      stateMachine: 'patch-server',
      input: JSON.parse(configured),
      executionName: actionExecutionName(),
      timeScale: 0.001,
    });

    expect(failureOf(execution)).toMatchObject({ status: 'SUCCEEDED' });
    expect(simulated.commands.map((command) => command.parameters)).toEqual([
      { PatchId: ['EXAMPLE-PATCH-1'] },
      { PatchId: ['EXAMPLE-PATCH-1'] },
    ]);
    await expectCleanCluster(cluster, 'a=100, b=0, surge=0');
  });
});
