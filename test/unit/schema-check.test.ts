import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseServerArgs } from '../../sandbox/node/arguments';
import { compareVersions } from '../../sandbox/node/protocol';
import {
  releaseOf,
  runsOnSchema,
  SchemaGuard,
  type SchemaGuardOptions,
  schemaIncompatibility,
} from '../../sandbox/node/schema-check';
import { evaluateExpectations, type SandboxReport } from '../../sandbox/report';
import { parseScenario, readScenario } from '../../sandbox/scenario';

const SCENARIOS = path.join(__dirname, '..', '..', 'sandbox', 'scenarios');

describe('version order', () => {
  it('compares dotted parts as numbers', () => {
    expect(compareVersions('1.10.0', '1.9.0')).toBe(1);
    expect(compareVersions('1.9.0', '1.10.0')).toBe(-1);
    expect(compareVersions('2.0.0', '10.0.0')).toBe(-1);
    expect(compareVersions('2.0.0', '2.0.0')).toBe(0);
  });

  it('takes a patch level and build metadata as the release they belong to', () => {
    expect(releaseOf('1.0.0-P42')).toBe('1.0.0');
    expect(releaseOf('1.0.0+build7')).toBe('1.0.0');
    expect(releaseOf('2.0.0')).toBe('2.0.0');
  });
});

describe('runsOnSchema', () => {
  it('lets a version run on a schema of its own release or an older one', () => {
    expect(runsOnSchema('2.0.0', '2.0.0')).toBe(true);
    expect(runsOnSchema('2.0.0', '1.0.0')).toBe(true);
    expect(runsOnSchema('1.10.0', '1.9.0')).toBe(true);
    // A patched node runs on the schema of its release.
    expect(runsOnSchema('1.0.0-P42', '1.0.0')).toBe(true);
    // No schema yet: every version runs.
    expect(runsOnSchema('1.0.0', null)).toBe(true);
  });

  it('refuses a version older than the schema, and says why', () => {
    expect(runsOnSchema('1.0.0', '2.0.0')).toBe(false);
    expect(runsOnSchema('1.9.0', '1.10.0')).toBe(false);
    expect(runsOnSchema('1.0.0-P42', '2.0.0')).toBe(false);
    expect(schemaIncompatibility('1.0.0', '2.0.0')).toBe('version 1.0.0 cannot run on database schema 2.0.0');
    expect(schemaIncompatibility('2.0.0', '2.0.0')).toBeUndefined();
  });
});

/** A guard on a schema the test sets, with a clock the test moves and a count of the reads. */
function guardOn(schema: { version: string | null }, overrides: Partial<SchemaGuardOptions> = {}) {
  const clock = { now: 1_000 };
  const events: Record<string, unknown>[] = [];
  const reads = { count: 0 };
  const guard = new SchemaGuard({
    id: 'i-test',
    oldVersionRunsOnNewSchema: false,
    read: async () => {
      reads.count++;
      return schema.version;
    },
    log: (event) => events.push(event),
    refreshMs: 250,
    now: () => clock.now,
    ...overrides,
  });
  return { guard, clock, events, reads };
}

describe('SchemaGuard', () => {
  it('refuses an old version once the schema moves past it, within the refresh time', async () => {
    const schema = { version: '1.0.0' as string | null };
    const { guard, clock, reads } = guardOn(schema);

    expect(await guard.refusal('1.0.0')).toBeUndefined();
    schema.version = '2.0.0';
    // Still the cached read: no file read per request.
    clock.now += 100;
    expect(await guard.refusal('1.0.0')).toBeUndefined();
    expect(reads.count).toBe(1);
    clock.now += 150;
    expect(await guard.refusal('1.0.0')).toBe('version 1.0.0 cannot run on database schema 2.0.0');
    expect(await guard.refusal('2.0.0')).toBeUndefined();
    expect(reads.count).toBe(2);
  });

  it('shares one read among the requests that arrive while it runs', async () => {
    const { guard, reads } = guardOn({ version: '2.0.0' });

    const verdicts = await Promise.all(Array.from({ length: 50 }, () => guard.refusal('1.0.0')));

    expect(new Set(verdicts)).toEqual(new Set(['version 1.0.0 cannot run on database schema 2.0.0']));
    expect(reads.count).toBe(1);
  });

  it('trusts a schema it noted itself (its own migration) at once, over a read still under way', async () => {
    const schema = { version: '1.0.0' as string | null };
    const { guard, clock } = guardOn(schema);
    expect(await guard.refusal('1.0.0')).toBeUndefined();

    guard.note('2.0.0');
    expect(await guard.refusal('1.0.0')).toBe('version 1.0.0 cannot run on database schema 2.0.0');

    // A read that started before a note finds the older schema; the note wins.
    clock.now += 300;
    const pending = guard.refusal('1.0.0');
    guard.note('3.0.0');
    await pending;
    expect(guard.judge('2.0.0', '3.0.0')).toBe('version 2.0.0 cannot run on database schema 3.0.0');
    expect(await guard.refusal('2.0.0')).toBe('version 2.0.0 cannot run on database schema 3.0.0');
  });

  it('logs when it starts refusing and when it serves again, not on every request', async () => {
    const { guard, events } = guardOn({ version: '2.0.0' });

    for (let request = 0; request < 5; request++) await guard.refusal('1.0.0');
    await guard.refusal('2.0.0');
    await guard.refusal('2.0.0');

    expect(events).toEqual([
      {
        event: 'schema-incompatible',
        id: 'i-test',
        version: '1.0.0',
        schemaVersion: '2.0.0',
        message: 'refusing to serve: version 1.0.0 cannot run on database schema 2.0.0',
      },
      { event: 'schema-compatible', id: 'i-test', version: '2.0.0', schemaVersion: '2.0.0' },
    ]);
  });

  it('serves on every schema and reads nothing when the old version runs on the new schema', async () => {
    const { guard, reads, events } = guardOn({ version: '9.0.0' }, { oldVersionRunsOnNewSchema: true });

    expect(guard.enforcing).toBe(false);
    expect(await guard.refusal('1.0.0')).toBeUndefined();
    expect(guard.judge('1.0.0', '9.0.0')).toBeUndefined();
    expect(reads.count).toBe(0);
    expect(events).toEqual([]);
  });

  it('serves when the database has no schema or cannot be read', async () => {
    const { guard } = guardOn({ version: null });
    expect(await guard.refusal('1.0.0')).toBeUndefined();

    const failing = guardOn({ version: null }, { read: () => Promise.reject(new Error('EIO')) });
    expect(await failing.guard.refusal('1.0.0')).toBeUndefined();
  });
});

describe('the node command line', () => {
  const base = ['--id', 'i-x', '--ip', '127.0.0.1', '--port', '8080', '--data-dir', 'd', '--db', 'f'];
  const args = [...base, '--version', '1.0.0', '--role', 'worker'];

  it('takes the schema rule as true or false, and leaves it out when not given', () => {
    expect(parseServerArgs([...args, '--old-version-runs-on-new-schema', 'false'])).toMatchObject({
      oldVersionRunsOnNewSchema: false,
    });
    expect(parseServerArgs([...args, '--old-version-runs-on-new-schema', 'true'])).toMatchObject({
      oldVersionRunsOnNewSchema: true,
    });
    expect(parseServerArgs(args)).not.toHaveProperty('oldVersionRunsOnNewSchema');
    expect(() => parseServerArgs([...args, '--old-version-runs-on-new-schema', 'no'])).toThrow(
      '--old-version-runs-on-new-schema must be true or false (got "no")',
    );
  });
});

describe('scenarios and the database', () => {
  it('reads the schema rule and the database identifier from the cluster block', () => {
    const scenario = parseScenario(
      {
        name: 'x',
        cluster: { database: { identifier: 'orders-db', oldVersionRunsOnNewSchema: false } },
        steps: [{ at: 0, start: 'patch-server' }],
      },
      'inline',
    );
    expect(scenario.cluster.database).toEqual({ identifier: 'orders-db', oldVersionRunsOnNewSchema: false });
    expect(parseScenario({ name: 'x', steps: [{ at: 0, start: 'patch-server' }] }, 'inline').cluster.database).toEqual(
      {},
    );
    expect(() =>
      parseScenario(
        { name: 'x', cluster: { database: { identifier: 'bad--id' } }, steps: [{ at: 0, start: 'x' }] },
        'i',
      ),
    ).toThrow(/cluster\.database\.identifier/);
  });

  it('ships the schema scenarios, declaring the old version does not run on the new schema', () => {
    for (const name of ['upgrade-incompatible-schema', 'upgrade-fails-after-migration']) {
      const scenario = readScenario(path.join(SCENARIOS, `${name}.json`));
      expect(scenario.cluster.database.oldVersionRunsOnNewSchema).toBe(false);
      expect(scenario.expect).toMatchObject({
        maxFailedRequests: 0,
        schemaVersion: '2.0.0',
        databaseSnapshotTaken: true,
      });
    }
    expect(fs.existsSync(path.join(SCENARIOS, 'upgrade-version.json'))).toBe(true);
  });
});

describe('the report on the database', () => {
  const node = (version: string, weight: number, healthy = true) => ({
    id: `i-${version}-${weight}`,
    role: 'worker',
    version,
    services: [],
    weight,
    healthy,
  });
  const reportWith = (finalState: Partial<SandboxReport['finalState']>) =>
    ({
      executions: [],
      requests: { failed: 0, total: 0 },
      finalState: { nodes: [], schemaVersion: '2.0.0', database: null, lockHeld: false, surgeNodes: 0, ...finalState },
    }) as unknown as SandboxReport;
  const scenarioExpecting = (expect: Record<string, unknown>) =>
    parseScenario({ name: 'x', steps: [{ at: 0, start: 'upgrade-version' }], expect }, 'inline');

  it('checks that the run took a snapshot of the database, from what moto holds', () => {
    const database = {
      engine: 'rds-instance',
      identifier: 'sandbox-db',
      snapshots: [{ id: 'zerodown-upgrade-abc', status: 'available', createdAt: '2026-01-01T00:00:00.000Z' }],
    };
    const taken = evaluateExpectations(scenarioExpecting({ databaseSnapshotTaken: true }), reportWith({ database }));
    expect(taken[0]).toEqual({
      what: 'a database snapshot taken',
      expected: true,
      actual: ['zerodown-upgrade-abc'],
      holds: true,
    });

    const none = evaluateExpectations(
      scenarioExpecting({ databaseSnapshotTaken: true }),
      reportWith({ database: { ...database, snapshots: [] } }),
    );
    expect(none[0]).toMatchObject({ actual: [], holds: false });
    const noDatabase = evaluateExpectations(scenarioExpecting({ databaseSnapshotTaken: false }), reportWith({}));
    expect(noDatabase[0]).toMatchObject({ holds: true });
  });

  it('checks the version of the nodes that serve, not of those without traffic', () => {
    const check = (nodes: ReturnType<typeof node>[]) =>
      evaluateExpectations(scenarioExpecting({ servingVersion: '2.0.0' }), reportWith({ nodes }))[0];

    expect(check([node('2.0.0', 100), node('1.0.0', 0)])).toMatchObject({ actual: ['2.0.0'], holds: true });
    expect(check([node('2.0.0', 100), node('1.0.0', 100)])).toMatchObject({ holds: false });
    expect(check([node('2.0.0', 100, false)])).toMatchObject({ actual: [], holds: false });
  });
});
