import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../cli/main';
import type { RunEvidence } from '../../report/evidence';
import { type ExecutionRecord, evidenceFromHistory, type HistoryEventLike } from '../../report/from-history';

/**
 * A real execution's evidence from its history. The fixtures are real runs of the test cluster's workflows, in the
 * Step Functions API's own format (test/fixtures/execution-history/record.ts records them); the small histories
 * written here are in the SDK's form (Date timestamps), with the Scheduled/Succeeded events the sandbox's leave out.
 */

interface Recorded {
  readonly execution: ExecutionRecord;
  readonly events: HistoryEventLike[];
}

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'execution-history');
const recorded = (name: string): Recorded =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Recorded;
const GENERATED_AT = new Date('2030-01-01T00:00:00Z');
const evidenceOf = (fixture: Recorded) => evidenceFromHistory({ ...fixture, generatedAt: GENERATED_AT });

const entered = (fixture: Recorded) =>
  fixture.events.flatMap((event) =>
    event.type?.endsWith('StateEntered') && event.stateEnteredEventDetails?.name
      ? [event.stateEnteredEventDetails.name]
      : [],
  );
const lane = (evidence: RunEvidence) => {
  const [only] = evidence.executions;
  if (!only) throw new Error('an execution lane expected');
  return only;
};
const stateNamed = (evidence: RunEvidence, name: string) => {
  const state = lane(evidence).states.find((candidate) => candidate.name === name);
  if (!state) throw new Error(`no state "${name}"`);
  return state;
};
const phasesOf = (evidence: RunEvidence, labelPart: string) =>
  evidence.nodes.find((node) => node.label.includes(labelPart))?.phases.map((phase) => phase.phase) ?? [];

describe('evidence from an execution history', () => {
  const fixtures = ['patch-server-active-passive', 'patch-server-rollback', 'failover-active-passive'] as const;

  it.each(fixtures)('%s: every state entered, in order, on one axis from the start to the end', (name) => {
    const fixture = recorded(name);
    const evidence = evidenceOf(fixture);

    expect(evidence.timeUnit).toBe('seconds');
    expect(evidence.span.from).toBe(0);
    expect(evidence.span.to).toBeGreaterThan(0);
    const states = lane(evidence).states;
    expect(states.map((state) => state.name)).toEqual(entered(fixture));
    for (const state of states) {
      expect(state.to).toBeGreaterThanOrEqual(state.from);
      expect(state.from).toBeGreaterThanOrEqual(evidence.span.from);
      expect(state.to).toBeLessThanOrEqual(evidence.span.to);
    }
    expect(states.map((state) => state.from)).toEqual([...states.map((state) => state.from)].sort((a, b) => a - b));
    expect(lane(evidence)).toMatchObject({ id: fixture.execution.executionArn, status: fixture.execution.status });
    for (const marker of evidence.markers) {
      expect(marker.at).toBeGreaterThanOrEqual(evidence.span.from);
      expect(marker.at).toBeLessThanOrEqual(evidence.span.to);
    }
    for (const node of evidence.nodes) {
      for (const phase of node.phases) expect(phase.to).toBeGreaterThan(phase.from);
    }
  });

  it('names the workflow, the cluster and the status', () => {
    const evidence = evidenceOf(recorded('patch-server-active-passive'));
    expect(evidence.title).toBe('patch-server on test-cluster');
    expect(evidence.subtitle).toContain('active-passive');
    expect(lane(evidence)).toMatchObject({ workflow: 'patch-server', trigger: 'StartExecution', status: 'SUCCEEDED' });
    expect(evidence.summary.slice(0, 2)).toEqual([
      { label: 'workflow', value: 'patch-server' },
      { label: 'status', value: 'SUCCEEDED', ok: true },
    ]);
  });

  it('counts the retry of a throttled task, and none elsewhere', () => {
    const evidence = evidenceOf(recorded('patch-server-active-passive'));
    const retried = lane(evidence).states.filter((state) => state.retries > 0);
    expect(retried.map((state) => [state.name, state.retries])).toEqual([['Shift traffic to the patched node', 1]]);
    expect(lane(evidence).states.some((state) => state.rollback)).toBe(false);
  });

  it('patch-server: the weights move to the patched node and back, and each node restarts in its turn', () => {
    const evidence = evidenceOf(recorded('patch-server-active-passive'));

    expect(evidence.weights.map((entry) => entry.weights)).toEqual([
      { a: 100, b: 0, surge: 0 },
      { a: 0, b: 100, surge: 0 },
      { a: 100, b: 0, surge: 0 },
    ]);
    expect(evidence.weights[0]?.at).toBe(0);
    const moves = evidence.markers.filter((marker) => marker.kind === 'weights-moved');
    expect(moves.map((marker) => marker.label)).toEqual([
      'Shift traffic to the patched node: a=0 b=100 surge=0',
      'Shift traffic back: a=100 b=0 surge=0',
    ]);
    expect(moves.map((marker) => marker.at)).toEqual(evidence.weights.slice(1).map((entry) => entry.at));
    // The passive node (slot b) is patched first, then the active one; the surge node boots, stands by and goes.
    expect(phasesOf(evidence, 'slot b')).toEqual(['standby', 'restarting', 'standby', 'serving', 'standby']);
    expect(phasesOf(evidence, 'slot a')).toEqual(['serving', 'standby', 'restarting', 'standby', 'serving']);
    expect(phasesOf(evidence, 'surge node')).toEqual(['booting', 'standby', 'draining']);
    const patchB = evidence.nodes.find((node) => node.label.includes('slot b'))?.phases[1];
    expect(patchB?.from).toBe(stateNamed(evidence, 'Patch the passive node').from);
    expect(patchB?.to).toBe(stateNamed(evidence, 'Verify the passive node').to);
  });

  it('patch-server that fails: the failure route and everything after it is the rollback path', () => {
    const fixture = recorded('patch-server-rollback');
    const evidence = evidenceOf(fixture);
    const states = lane(evidence).states;
    const first = states.findIndex((state) => state.name === 'Failed: Check the patch of the passive node');

    expect(first).toBeGreaterThan(0);
    expect(states.slice(0, first).filter((state) => state.rollback)).toEqual([]);
    expect(states.slice(first).every((state) => state.rollback)).toBe(true);
    expect(states.slice(first).map((state) => state.name)).toEqual(
      expect.arrayContaining(['Roll back: restore the snapshot weights', 'Fail after rolling back']),
    );
    expect(states.at(-1)).toMatchObject({ name: 'Fail after rolling back', kind: 'fail' });
    // The caught failure is no retry.
    expect(stateNamed(evidence, 'Check the patch of the passive node').retries).toBe(0);
    expect(evidence.summary).toEqual(
      expect.arrayContaining([
        { label: 'status', value: 'FAILED after rolling back', ok: false },
        { label: 'error', value: 'CommandFailedError', ok: false },
        {
          label: 'cause',
          value: expect.stringMatching(/^Check the patch of the passive node failed: Command .* failed on i-/),
        },
      ]),
    );
    expect(evidence.markers.filter((marker) => marker.kind === 'note').map((marker) => marker.label)).toEqual([
      expect.stringMatching(/^Check the patch of the passive node failed: CommandFailedError \(Command .*kernel/),
      expect.stringMatching(/^execution FAILED: CommandFailedError/),
    ]);
    // The weights never moved: the rollback wrote the snapshot's again.
    expect(evidence.weights).toEqual([{ at: 0, weights: { a: 100, b: 0, surge: 0 } }]);
    expect(evidence.markers.filter((marker) => marker.kind === 'weights-written')).toHaveLength(1);
    // The passive node restarted until its patch failed; what it was after that, the history does not say.
    expect(phasesOf(evidence, 'slot b')).toEqual(['standby', 'restarting', 'standby']);
  });

  it('failover: the weights move off the lost node, marked at the move, with its timeline', () => {
    const fixture = recorded('failover-active-passive');
    const evidence = evidenceOf(fixture);

    expect(evidence.weights.map((entry) => entry.weights)).toEqual([
      { a: 100, b: 0, surge: 0 },
      { a: 0, b: 100, surge: 0 },
    ]);
    const move = stateNamed(evidence, 'Move traffic to the survivors');
    const moved = evidence.markers.filter((marker) => marker.kind === 'weights-moved');
    expect(moved).toHaveLength(1);
    expect(moved[0]?.label).toBe('Move traffic to the survivors: a=0 b=100 surge=0');
    expect(moved[0]?.at).toBeGreaterThanOrEqual(move.from);
    expect(moved[0]?.at).toBeLessThanOrEqual(move.to);
    expect(evidence.weights[1]?.at).toBe(moved[0]?.at);
    expect(evidence.markers.map((marker) => marker.kind)).toEqual([
      'alarm',
      'detected',
      'weights-moved',
      'weights-written',
      'redundancy',
    ]);
    expect(evidence.markers[0]?.label).toMatch(/^loss detected \(zerodown-test-cluster-node-a-lost\), .* before/);
    expect(lane(evidence).trigger).toBe('alarm zerodown-test-cluster-node-a-lost');
    expect(evidence.summary.map((figure) => figure.label)).toEqual(
      expect.arrayContaining(['loss confirmed', 'traffic moved', 'redundancy restored']),
    );
    expect(evidence.summary.find((figure) => figure.label === 'traffic moved')?.value).toMatch(
      /^\d+\.\d s after the alarm$/,
    );
    // The lost node, the survivor that takes the traffic, and the replacement that takes the lost node's slot.
    expect(phasesOf(evidence, 'slot a)')).toEqual(['unhealthy', 'replaced']);
    expect(phasesOf(evidence, 'slot b')).toEqual(['standby', 'serving']);
    expect(phasesOf(evidence, 'replacement')).toEqual(['booting', 'standby']);
    expect(lane(evidence).states.some((state) => state.rollback || state.retries > 0)).toBe(false);
  });
});

describe('evidence from a history in the SDK form', () => {
  const T0 = Date.parse('2030-01-01T10:00:00Z');
  const at = (seconds: number) => new Date(T0 + seconds * 1000);
  const execution = (status: string, stop: number, extra: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:zerodown-shop-patch-server:run-1',
    stateMachineArn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:zerodown-shop-patch-server',
    name: 'run-1',
    status,
    startDate: at(0),
    stopDate: at(stop),
    input: JSON.stringify({ cluster: 'shop', patchId: 'P1' }),
    ...extra,
  });

  /** Events numbered in order, each following the one before (one branch). */
  function history(events: [number, string, Record<string, unknown>?][]): HistoryEventLike[] {
    return events.map(([seconds, type, details], index) => ({
      id: index + 1,
      previousEventId: index,
      timestamp: at(seconds),
      type: type as HistoryEventLike['type'],
      ...details,
    }));
  }
  const entered = (name: string) => ({ stateEnteredEventDetails: { name } });
  const exited = (name: string, output: unknown = {}) => ({
    stateExitedEventDetails: { name, output: JSON.stringify(output) },
  });
  const lambdaFailed = (error: string) => ({ lambdaFunctionFailedEventDetails: { error, cause: `${error} happened` } });

  it('counts retries by the Scheduled events and tells a caught failure from a retried one', () => {
    const events = history([
      [0, 'ExecutionStarted', { executionStartedEventDetails: { input: '{}' } }],
      [0, 'TaskStateEntered', entered('Shift traffic')],
      [0, 'LambdaFunctionScheduled'],
      [1, 'LambdaFunctionFailed', lambdaFailed('ThrottlingException')],
      [3, 'LambdaFunctionScheduled'],
      [4, 'LambdaFunctionFailed', lambdaFailed('ThrottlingException')],
      [8, 'LambdaFunctionScheduled'],
      [9, 'LambdaFunctionSucceeded'],
      [9, 'TaskStateExited', exited('Shift traffic')],
      [9, 'TaskStateEntered', entered('Verify the node')],
      [9, 'LambdaFunctionScheduled'],
      [10, 'LambdaFunctionFailed', lambdaFailed('HealthCheckFailedError')],
      // Caught: the route's first state comes next, without the failed task's StateExited.
      [10, 'PassStateEntered', entered('Failed: Verify the node')],
      [10, 'PassStateExited', exited('Failed: Verify the node')],
      [10, 'TaskStateEntered', entered('Roll back: restore the snapshot weights')],
      [10, 'LambdaFunctionScheduled'],
      [11, 'LambdaFunctionSucceeded'],
      [11, 'TaskStateExited', exited('Roll back: restore the snapshot weights')],
      [11, 'FailStateEntered', entered('Fail after rolling back')],
      [11, 'ExecutionFailed', { executionFailedEventDetails: { error: 'HealthCheckFailedError', cause: 'bad' } }],
    ]);

    const evidence = evidenceFromHistory({ execution: execution('FAILED', 11), events, generatedAt: at(20) });

    expect(
      lane(evidence).states.map((state) => [
        state.name,
        state.kind,
        state.from,
        state.to,
        state.retries,
        state.rollback,
      ]),
    ).toEqual([
      ['Shift traffic', 'task', 0, 9, 2, false],
      ['Verify the node', 'task', 9, 10, 0, false],
      ['Failed: Verify the node', 'pass', 10, 10, 0, true],
      ['Roll back: restore the snapshot weights', 'task', 10, 11, 0, true],
      // Never exited: it ends where the execution ends.
      ['Fail after rolling back', 'fail', 11, 11, 0, true],
    ]);
    expect(lane(evidence).workflow).toBe('patch-server');
    expect(evidence.title).toBe('patch-server on shop');
    expect(evidence.markers.map((marker) => [marker.at, marker.kind, marker.label])).toEqual([
      [10, 'note', 'Verify the node failed: HealthCheckFailedError (HealthCheckFailedError happened)'],
      [11, 'note', 'execution FAILED: HealthCheckFailedError (bad)'],
    ]);
  });

  it('without the failure route by name, flags what follows the last caught failure of a failed execution', () => {
    const events = history([
      [0, 'TaskStateEntered', entered('Do it')],
      [0, 'TaskScheduled'],
      [2, 'TaskFailed', { taskFailedEventDetails: { error: 'Boom', cause: '' } }],
      [2, 'PassStateEntered', entered('Undo it')],
      [2, 'PassStateExited', exited('Undo it')],
      [3, 'FailStateEntered', entered('Give up')],
      [3, 'ExecutionFailed', { executionFailedEventDetails: { error: 'Boom' } }],
    ]);
    const evidence = evidenceFromHistory({ execution: execution('FAILED', 3), events });
    expect(lane(evidence).states.map((state) => [state.name, state.rollback])).toEqual([
      ['Do it', false],
      ['Undo it', true],
      ['Give up', true],
    ]);
  });

  it('a carry-on route in a run that succeeds flags its entry only', () => {
    const events = history([
      [0, 'TaskStateEntered', entered("Record the cluster's version")],
      [0, 'TaskScheduled'],
      [1, 'TaskFailed', { taskFailedEventDetails: { error: 'TooManyUpdates', cause: '' } }],
      [1, 'PassStateEntered', entered("Failed: Record the cluster's version")],
      [1, 'PassStateExited', exited("Failed: Record the cluster's version")],
      [1, 'PassStateEntered', entered('Note that the version was not recorded')],
      [1, 'PassStateExited', exited('Note that the version was not recorded')],
      [2, 'SucceedStateEntered', entered('Patch succeeded')],
      [2, 'SucceedStateExited', exited('Patch succeeded')],
      [2, 'ExecutionSucceeded'],
    ]);
    const evidence = evidenceFromHistory({ execution: execution('SUCCEEDED', 2), events });
    expect(lane(evidence).states.map((state) => [state.name, state.rollback])).toEqual([
      ["Record the cluster's version", false],
      ["Failed: Record the cluster's version", true],
      ['Note that the version was not recorded', false],
      ['Patch succeeded', false],
    ]);
  });

  it('an execution that still runs ends now; a state it is in ends there too', () => {
    const events = history([[0, 'TaskStateEntered', entered('Check the patch')]]);
    const evidence = evidenceFromHistory({
      execution: { ...execution('RUNNING', 0), stopDate: undefined },
      events,
      generatedAt: at(42),
    });
    expect(evidence.span).toEqual({ from: 0, to: 42 });
    expect(lane(evidence).states).toEqual([
      { name: 'Check the patch', from: 0, to: 42, kind: 'task', rollback: false, retries: 0 },
    ]);
  });

  it('takes each shift once, however many outputs carry it, and the weights from the metrics only without them', () => {
    const shift = {
      changed: true,
      weights: [
        { slot: 'a', weight: 0 },
        { slot: 'b', weight: 100 },
      ],
      previousWeights: [
        { slot: 'a', weight: 100 },
        { slot: 'b', weight: 0 },
      ],
      capacity: { servingAfter: 1, requiredServing: 1 },
      shiftedAt: at(2).toISOString(),
    };
    const events = history([
      [1, 'TaskStateEntered', entered('Shift traffic')],
      [3, 'TaskStateExited', exited('Shift traffic', { shift })],
      [3, 'PassStateEntered', entered('Stage done')],
      [3, 'PassStateExited', exited('Stage done', { shift })],
      [4, 'SucceedStateEntered', entered('Done')],
      [4, 'ExecutionSucceeded'],
    ]);
    const metrics = {
      weights: {
        a: [
          { at: at(-30), value: 100 },
          { at: at(30), value: 0 },
        ],
        b: [
          { at: at(-30), value: 0 },
          { at: at(30), value: 100 },
        ],
      },
      healthyServing: [
        { at: at(-30), value: 2 },
        { at: at(30), value: 1 },
      ],
    };

    const fromHistory = evidenceFromHistory({ execution: execution('SUCCEEDED', 4), events, metrics });
    expect(fromHistory.weights).toEqual([
      { at: 0, weights: { a: 100, b: 0 } },
      { at: 2, weights: { a: 0, b: 100 } },
    ]);
    expect(fromHistory.markers).toEqual([{ at: 2, kind: 'weights-moved', label: 'Shift traffic: a=0 b=100' }]);
    expect(fromHistory.summary).toEqual(
      expect.arrayContaining([
        { label: 'fewest healthy serving nodes after a shift', value: '1 (at least 1 required)', ok: true },
        { label: 'fewest healthy serving nodes (HealthyServingNodes metric)', value: '1' },
      ]),
    );

    const noShift = history([
      [0, 'TaskStateEntered', entered('Something')],
      [1, 'TaskStateExited', exited('Something')],
    ]);
    const fromMetrics = evidenceFromHistory({ execution: execution('SUCCEEDED', 40), events: noShift, metrics });
    expect(fromMetrics.weights).toEqual([
      { at: 0, weights: { a: 100, b: 0 } },
      { at: 30, weights: { a: 0, b: 100 } },
    ]);
  });

  it('reads the timestamps of the API JSON (epoch seconds) as the SDK Dates', () => {
    const sdk = history([
      [0, 'PassStateEntered', entered('One')],
      [1.5, 'PassStateExited', exited('One')],
    ]);
    const json = sdk.map((event) => ({ ...event, timestamp: (event.timestamp as Date).getTime() / 1000 }));
    const record = execution('SUCCEEDED', 2);
    const asJson = { ...record, startDate: T0 / 1000, stopDate: T0 / 1000 + 2 };
    expect(evidenceFromHistory({ execution: asJson, events: json, generatedAt: GENERATED_AT })).toEqual(
      evidenceFromHistory({ execution: record, events: sdk, generatedAt: GENERATED_AT }),
    );
  });
});

describe('zerodown report', () => {
  let dir: string;
  let server: http.Server;
  let endpoint: string;
  const served = new Map<string, Recorded>();
  const calls: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-report-'));
    // A Step Functions endpoint that answers from a recorded execution, as the sandbox's does; anything else
    // (CloudWatch) is refused, as for a role without the metrics' permissions.
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        const target = String(request.headers['x-amz-target'] ?? '');
        calls.push(target || String(request.url));
        const input = body.startsWith('{') ? (JSON.parse(body) as { executionArn?: string }) : {};
        const fixture = served.get(input.executionArn ?? '');
        const answer = (status: number, value: unknown) => {
          response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
          response.end(JSON.stringify(value));
        };
        if (!target.startsWith('AWSStepFunctions.')) {
          answer(403, { __type: 'AccessDeniedException', message: 'not authorized to read metrics' });
        } else if (!fixture) {
          answer(400, {
            __type: 'ExecutionDoesNotExist',
            message: `Execution Does Not Exist: '${input.executionArn}'`,
          });
        } else if (target.endsWith('.DescribeExecution')) {
          answer(200, fixture.execution);
        } else if (target.endsWith('.GetExecutionHistory')) {
          answer(200, { events: fixture.events });
        } else {
          answer(400, { __type: 'UnknownOperationException', message: target });
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const fixture = recorded('patch-server-rollback');
    served.set(fixture.execution.executionArn ?? '', fixture);
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function cli(...args: string[]) {
    let stdout = '';
    let stderr = '';
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
    try {
      const exitCode = await main(args);
      return { exitCode, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  }

  it('writes the HTML report of an execution and prints its path; the metrics it may not read are a note', async () => {
    const fixture = recorded('patch-server-rollback');
    const file = path.join(dir, 'rollback.html');

    const run = await cli('--endpoint', endpoint, 'report', fixture.execution.executionArn ?? '', '--out', file);

    expect(run).toEqual({ exitCode: 0, stdout: `${file}\n`, stderr: '' });
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/i);
    for (const name of ['Check the patch of the passive node', 'Roll back: restore the snapshot weights']) {
      expect(html).toContain(name);
    }
    expect(html).toContain('CloudWatch metrics not read (AccessDenied');
    expect(calls).toEqual(
      expect.arrayContaining(['AWSStepFunctions.DescribeExecution', 'AWSStepFunctions.GetExecutionHistory']),
    );
  });

  it('names the file after the execution, here, and prints { file } with --json', async () => {
    const fixture = recorded('patch-server-rollback');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const run = await cli('--json', '--endpoint', endpoint, 'report', fixture.execution.executionArn ?? '');
      expect(run.exitCode).toBe(0);
      const file = path.join(fs.realpathSync(dir), `report-${fixture.execution.name}.html`);
      expect(JSON.parse(run.stdout)).toEqual({ file: expect.stringMatching(/report-patch-server-.*\.html$/) });
      expect(fs.existsSync(file)).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses what is not an execution ARN before calling anything, and names an execution that does not exist', async () => {
    calls.length = 0;
    const bad = await cli('--endpoint', endpoint, 'report', 'arn:aws:states:us-east-1:123456789012:stateMachine:x');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toBe(
      'zerodown: "arn:aws:states:us-east-1:123456789012:stateMachine:x" is not an execution ARN ' +
        '(arn:aws:states:<region>:<account>:execution:<state machine>:<name>)\n',
    );
    expect(calls).toEqual([]);

    const missing = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-shop-patch-server:gone';
    const unknown = await cli('--endpoint', endpoint, 'report', missing);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toBe(`zerodown: No execution ${missing} in ${endpoint}: ExecutionDoesNotExist\n`);
  });
});
