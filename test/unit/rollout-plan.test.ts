import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { InputValidationError } from '../../functions/domain/errors';
import { planRollout, rolloutSpecFor } from '../../functions/domain/plans/rollout';
import type { ClusterSnapshot, NodeSnapshot } from '../../functions/domain/snapshot';

const model = parseClusterModel(
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'local/clusters/local-cluster.json'), 'utf8')),
);
const [a, b] = model.nodes;

function snapshot(weights: { a: number; b: number }, overrides: Partial<NodeSnapshot>[] = []): ClusterSnapshot {
  const node = (n: typeof a, weight: number, index: number): NodeSnapshot => ({
    instanceId: n?.instanceId ?? '',
    role: n?.role ?? 'worker',
    slot: n?.slot ?? '',
    targetGroupArn: 'arn',
    state: 'running',
    targetHealth: 'healthy',
    serving: weight > 0,
    version: '4.2.0',
    ...overrides[index],
  });
  const nodes = [node(a, weights.a, 0), node(b, weights.b, 1)];
  return {
    cluster: model.name,
    takenAt: '2026-11-25T10:00:00.000Z',
    strategy: 'weighted-target-groups',
    weights: [
      { slot: 'a', targetGroupArn: 'arn-a', weight: weights.a },
      { slot: 'b', targetGroupArn: 'arn-b', weight: weights.b },
      { slot: 'surge', targetGroupArn: 'arn-surge', weight: 0 },
    ],
    nodes,
    servingHealthyNodes: nodes.filter((n) => n.serving).length,
    surgeNodes: [],
  };
}

const patch = (request: Record<string, unknown> = {}) =>
  rolloutSpecFor('patch-server', { cluster: model.name, patchId: 'P42', ...request });

describe('planRollout', () => {
  it('patches the passive node first, then the active one, and shifts back', () => {
    const plan = planRollout(model, snapshot({ a: 100, b: 0 }), patch());

    expect(plan.first?.instanceId).toBe(b?.instanceId);
    expect(plan.second?.instanceId).toBe(a?.instanceId);
    expect(plan.shifts.toFirst?.stages.at(-1)?.weights).toEqual({ a: 0, b: 100, surge: 0 });
    expect(plan.weights.final).toEqual({ a: 100, b: 0, surge: 0 });
    expect(plan.steps.every((step) => step.predictedServing >= plan.requiredServing)).toBe(true);
  });

  it('plans an active/active rotation with the surge node in service, migrations on the idle surge node', () => {
    const activeActive = { ...model, topology: 'active-active' as const };
    const spec = rolloutSpecFor('upgrade-version', { cluster: model.name, version: '4.3.0' });

    const plan = planRollout(activeActive, snapshot({ a: 50, b: 50 }), spec);

    expect(plan.shifts.surgeIn?.stages.at(-1)?.weights).toEqual({ a: 50, b: 50, surge: 50 });
    expect(plan.rotation.map((item) => item.node.instanceId)).toEqual([a?.instanceId, b?.instanceId]);
    expect(plan.rotation[0]?.drain.stages.at(-1)?.weights).toEqual({ a: 0, b: 50, surge: 50 });
    expect(plan.migration).toMatchObject({ kind: 'migrate', input: '4.3.0', node: 'surge', order: 'last' });
    expect(plan.requiredServing).toBe(2);
    expect(Math.min(...plan.steps.map((step) => step.predictedServing))).toBe(2);
  });

  it('says at each step which node takes over if the serving node is lost: the surge node once it is ready', () => {
    const plan = planRollout(model, snapshot({ a: 100, b: 0 }), patch());
    const during = (step: string) => plan.steps.find((candidate) => candidate.step === step)?.ifNodeLost;

    expect(plan.steps.every((step) => step.ifNodeLost !== undefined)).toBe(true);
    expect(during('Launch surge node')).toBe(
      'If a is lost: b takes its traffic, and a replacement is launched into its slot',
    );
    expect(during('Patch the passive node')).toBe(
      'If a is lost: the surge node takes its traffic, and the surge node is adopted into its slot; b stays out of ' +
        'service until the failover has verified it',
    );
    expect(during('Shift traffic to the patched node')).toBe(
      'If b is lost: a takes its traffic, and the surge node is adopted into its slot',
    );
    expect(during('Retire the surge node')).toBe(
      'If a is lost: b takes its traffic, and a replacement is launched into its slot',
    );
  });

  it('says a replacement is launched once only nodes on the new version are left: the surge node runs the old one', () => {
    const upgrade = rolloutSpecFor('upgrade-version', { cluster: model.name, version: '4.3.0' });
    const stale = 'a replacement is launched into its slot, since the surge node still runs 4.2.0, not 4.3.0';

    const plan = planRollout(model, snapshot({ a: 100, b: 0 }), upgrade);
    const during = (step: string) => plan.steps.find((candidate) => candidate.step === step)?.ifNodeLost;
    const afterSecond = plan.steps.slice(plan.steps.findIndex((step) => step.step === 'Verify the other node') + 1);

    // Before the second node's change, a node on the old version is left, and the surge node reports it too.
    expect(during('Verify the patched node under traffic')).toBe(
      'If b is lost: a takes its traffic, and the surge node is adopted into its slot',
    );
    expect(during('Shift traffic back')).toBe(`If a is lost: b takes its traffic, and ${stale}`);
    // Except while the bake has the idle node out of service: then no node holds the surge node to a version.
    const baking = ['Bake the image', 'Verify the idle node for the image'];
    expect(during('Bake the image')).toBe(
      'If a is lost: the surge node takes its traffic, and the surge node is adopted into its slot; b stays out of ' +
        'service until the failover has verified it',
    );
    const changedOnly = afterSecond.filter((step) => !baking.includes(step.step));
    expect(changedOnly.map((step) => step.step)).toContain('Publish the image');
    for (const step of changedOnly) {
      expect(step.ifNodeLost).toMatch(/a replacement is launched into its slot/);
      expect(step.ifNodeLost).not.toMatch(/adopted/);
    }

    // Active/active: the surge node runs the new version once it is changed for the image, and is adopted again.
    const activeActive = { ...model, topology: 'active-active' as const };
    const rotated = planRollout(activeActive, snapshot({ a: 50, b: 50 }), upgrade);
    const duringRotation = (step: string) => rotated.steps.find((candidate) => candidate.step === step)?.ifNodeLost;
    expect(duringRotation(`Return ${a?.instanceId} to service`)).toBe(
      'If a serving node is lost: the nodes still serving, the surge node included, take its traffic, and the surge ' +
        'node is adopted into its slot; but if the permanent nodes left in service all run 4.3.0, the surge node, ' +
        'still on 4.2.0, takes none of its traffic and a replacement is launched into its slot',
    );
    expect(duringRotation(`Verify ${b?.instanceId} under traffic`)).toBe(
      `If a serving node is lost: the other permanent nodes take its traffic, and ${stale}`,
    );
    expect(duringRotation('Change the surge node for the image')).toContain(stale);
    expect(duringRotation('Bake the image')).toBe(
      'If a serving node is lost: the other nodes take its traffic, and the surge node is adopted into its slot',
    );

    // A rerun that names the version the nodes already report: the surge node catches up, and is adopted.
    const rerun = planRollout(model, snapshot({ a: 100, b: 0 }), patch({ version: '4.2.0' }));
    expect(rerun.steps.find((step) => step.step === 'Shift traffic back')?.ifNodeLost).toBe(
      'If a is lost: b takes its traffic, and the surge node is adopted into its slot',
    );
  });

  it('refuses a cluster with an unhealthy node before anything is touched', () => {
    expect(() => planRollout(model, snapshot({ a: 100, b: 0 }, [{}, { targetHealth: 'unhealthy' }]), patch())).toThrow(
      /is running with target unhealthy; restore redundancy first/,
    );
  });

  it('refuses a version it cannot check: no version endpoint and no check that compares one', () => {
    const { version: _endpoint, ...checks } = model.healthChecks;
    const blind = {
      ...model,
      healthChecks: { ...checks, http: checks.http.map((c) => ({ ...c, expectVersion: false })) },
    };
    expect(() => planRollout(blind, snapshot({ a: 100, b: 0 }), patch({ version: '4.2.1' }))).toThrow(
      expect.objectContaining({
        name: 'InputValidationError',
        issues: [expect.objectContaining({ path: 'healthChecks.version' })],
      }),
    );
    // Without a requested version there is nothing to check.
    expect(planRollout(blind, snapshot({ a: 100, b: 0 }), patch()).expectedVersion).toBeNull();
    // A check that compares the version in its body is enough.
    const comparing = {
      ...blind,
      healthChecks: { ...blind.healthChecks, http: checks.http.map((c) => ({ ...c, expectVersion: true })) },
    };
    expect(planRollout(comparing, snapshot({ a: 100, b: 0 }), patch({ version: '4.2.1' })).expectedVersion).toBe(
      '4.2.1',
    );
  });

  it('refuses a workflow whose command the cluster does not define', () => {
    const noUpgrade = { ...model, commands: { patch: model.commands.patch } };
    expect(() =>
      planRollout(
        noUpgrade,
        snapshot({ a: 100, b: 0 }),
        rolloutSpecFor('upgrade-version', { cluster: model.name, version: '5.0.0' }),
      ),
    ).toThrow('commands.upgrade is not defined in the cluster model');
  });

  it.each([
    [{ patchId: 'P42; reboot' }, 'patchId'],
    [{ shift: { steps: [50, 10, 100] } }, 'shift.steps'],
    [{ shift: { steps: [100], alarms: ['bad\nname'] } }, 'shift.alarms[0]'],
    [{ dryrun: true }, 'dryrun'],
  ])('refuses %j naming %s', (request, field) => {
    try {
      patch(request);
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(InputValidationError);
      expect((error as InputValidationError).issues.map((issue) => issue.path)).toContain(field);
    }
  });
});
