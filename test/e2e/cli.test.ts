import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { type CommandRun, processesUsing, runCommand, type SandboxUp, startSandboxUp } from '../../cli/sandbox-process';
import { commandsMissingFrom } from '../harness/cli-help';

/**
 * The CLI as an operator uses it, against a sandbox that `zerodown sandbox up` keeps running: every call goes
 * through the sandbox's endpoint, the Step Functions API included, exactly as it goes to AWS. No figure of time is
 * asserted; every wait is bounded.
 */

const SCENARIO = {
  name: 'a cluster for the CLI: the manager fails its smoke tests, so a deploy rolls back',
  cluster: { name: 'sandbox', topology: 'active-passive', version: '1.0.0' },
  load: { requestsPerSecond: 20, maxDurationSeconds: 900 },
  timeScale: 0.1,
  steps: [{ at: 0, fault: 'fail-command', target: 'manager', command: 'smokeTest' }],
};

/** One line, naming the error: what an operator gets instead of a stack trace. */
function oneLineError(run: CommandRun): string {
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0] ?? '';
}

describe('the zerodown CLI', () => {
  it('lists every command with a one-line description', async () => {
    const help = await runCommand(['--help']);
    expect(help.exitCode).toBe(0);
    expect(commandsMissingFrom(help.stdout)).toEqual([]);
  });

  it('refuses bad usage and a bad request in one line, with exit code 2, before calling anything', async () => {
    const missing = await runCommand(['status']);
    expect(missing.exitCode).toBe(2);
    expect(oneLineError(missing)).toContain("missing required argument 'cluster'");
    // No endpoint and no sandbox are needed: the request is checked first.
    const unsafe = await runCommand(['start', 'patch-server', 'any-cluster', '--set', 'patchId=reboot; now']);
    expect(unsafe.exitCode).toBe(2);
    expect(oneLineError(unsafe)).toMatch(/^zerodown: InputValidationError: .*patchId/);
  });

  it('validates a model file and prints the JSON Schema of the model', async () => {
    const valid = await runCommand(['validate', 'examples/clusters/demo.json']);
    expect(valid.exitCode).toBe(0);
    expect(valid.stdout).toContain('a valid model of cluster "demo"');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-model-'));
    const bad = path.join(dir, 'bad.json');
    const model = JSON.parse(fs.readFileSync('examples/clusters/demo.json', 'utf8')) as {
      commands: Record<string, unknown>;
    };
    model.commands.patch = { documentName: 'AWS-RunShellScript', documentVersion: '1' };
    fs.writeFileSync(bad, JSON.stringify(model));
    const refused = await runCommand(['validate', bad]);
    expect(refused.exitCode).toBe(2);
    expect(oneLineError(refused)).toContain('commands.patch.documentName runs any shell its caller passes');
    const schema = await runCommand(['schema']);
    expect(schema.exitCode).toBe(0);
    expect(JSON.parse(schema.stdout)).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['name', 'nodes']),
    });
  });

  describe('against a sandbox', () => {
    let sandbox: SandboxUp;
    const cli = (...args: string[]) => runCommand(['--endpoint', sandbox.endpoint, ...args]);

    beforeAll(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-cli-'));
      const scenario = path.join(dir, 'scenario.json');
      fs.writeFileSync(scenario, JSON.stringify(SCENARIO));
      sandbox = await startSandboxUp(scenario);
    });

    afterAll(async () => {
      if (!sandbox) return;
      expect(await sandbox.stop()).toBe(0);
      expect(processesUsing(sandbox.workDir)).toEqual([]);
    });

    it('shows the cluster: both nodes healthy, the active one with the weight, failover armed', async () => {
      const status = await cli('--json', 'status', sandbox.cluster);
      expect(status.exitCode).toBe(0);
      const parsed = JSON.parse(status.stdout) as {
        nodes: { role: string; targetHealth: string; weight: number; alarm: string }[];
      };
      expect(parsed.nodes.map((node) => [node.role, node.targetHealth, node.weight])).toEqual([
        ['worker', 'healthy', 100],
        ['manager', 'healthy', 0],
      ]);
      expect(parsed).toMatchObject({ lock: { state: 'free' } });
    });

    it('starts a patch and follows it live to SUCCEEDED, with exit code 0', async () => {
      const run = await cli('start', 'patch-server', sandbox.cluster, '--set', 'patchId=P1', '--watch');
      expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
      expect(run.stdout).toContain('✓ Shift traffic to the patched node');
      expect(run.stdout).toContain('weights a=0 b=100 surge=0');
      expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^SUCCEEDED; weights a=100 b=0 surge=0 — arn:aws:states:/);

      // The finished execution's HTML report, from its history as the sandbox's API gives it.
      const executionArn = run.stdout.trim().split('\n').at(-1)?.split(' — ')[1] ?? '';
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-report-')), 'patch.html');
      const report = await cli('report', executionArn, '--out', file);
      expect({ exitCode: report.exitCode, stdout: report.stdout.trim() }).toEqual({ exitCode: 0, stdout: file });
      const html = fs.readFileSync(file, 'utf8');
      expect(html).toMatch(/^<!DOCTYPE html>/i);
      expect(html).toContain('Shift traffic to the patched node');
      expect(html).toContain('Patch the passive node');

      const after = JSON.parse((await cli('--json', 'status', sandbox.cluster)).stdout) as {
        weights: Record<string, number>;
        surgeNodes: unknown[];
        running: unknown[];
      };
      expect(after).toMatchObject({
        weights: { a: 100, b: 0, surge: 0 },
        surgeNodes: [],
        running: [],
        lock: { state: 'free' },
      });
    });

    it('follows a deploy that rolls back, and exits non-zero', async () => {
      const run = await cli(
        'start',
        'deploy-service',
        sandbox.cluster,
        '--set',
        'service=orders-api',
        '--set',
        'artifact=s3://apim-artifacts/orders-api/1.4.0/orders-api.car',
        '--watch',
      );
      expect(run.exitCode).toBe(1);
      expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^FAILED after rolling back: /);
    });

    it('aborts a running patch, then follows the recovery the abort starts to SUCCEEDED', async () => {
      const started = await cli('--json', 'start', 'patch-server', sandbox.cluster, '--set', 'patchId=P2');
      expect(started.exitCode).toBe(0);
      const { executionArn } = JSON.parse(started.stdout) as { executionArn: string };
      // Stop it once it has changed something: the surge node is up and the passive node is being patched.
      const sfn = new SFNClient({
        endpoint: sandbox.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
      });
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
        if (events.some((event) => event.stateEnteredEventDetails?.name === 'Patch the passive node')) break;
        if (Date.now() > deadline) throw new Error('the patch never reached the passive node');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      const during = await cli('status', sandbox.cluster);
      expect(during.stdout).toMatch(
        new RegExp(`^lock: held by patch-server ${executionArn} since .*, lease until `, 'm'),
      );

      const aborted = await cli('abort', executionArn);
      expect(aborted.exitCode).toBe(0);
      expect(aborted.stdout).toContain(`stopped ${executionArn}`);
      expect(aborted.stdout).toMatch(/recovery: arn:aws:states:.*Recover/);
      expect(aborted.stdout.trim().split('\n').at(-1)).toMatch(/^SUCCEEDED/);

      const history = await cli('--json', 'history', sandbox.cluster);
      const executions = JSON.parse(history.stdout) as { workflow: string; status: string; executionArn: string }[];
      expect(executions.find((execution) => execution.executionArn === executionArn)?.status).toBe('ABORTED');
      const after = JSON.parse((await cli('--json', 'status', sandbox.cluster)).stdout) as {
        surgeNodes: unknown[];
        running: unknown[];
        lock: unknown;
      };
      expect(after.surgeNodes).toEqual([]);
      expect(after.lock).toEqual({ state: 'free' });
    });

    it('answers an unknown cluster in one line with a non-zero exit', async () => {
      const unknown = await cli('status', 'no-such-cluster');
      expect(unknown.exitCode).toBe(1);
      expect(oneLineError(unknown)).toBe(
        'zerodown: ClusterNotFoundError: No cluster named "no-such-cluster": SSM parameter /zerodown/clusters/no-such-cluster does not exist',
      );
      const start = await cli('start', 'recover', 'no-such-cluster');
      expect(start.exitCode).toBe(1);
      expect(oneLineError(start)).toContain('No state machine zerodown-no-such-cluster-recover');
    });
  });
});
