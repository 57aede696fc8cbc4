import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { planDeploy } from '../../functions/domain/plans/deploy-service';
import { STEPS } from '../../functions/domain/plans/steps';
import { planUpdate, updateRequestSchema } from '../../functions/domain/plans/update-service';
import { activePassiveSnapshot } from '../harness/plan-snapshots';

const model = parseClusterModel(
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'local/clusters/local-cluster.json'), 'utf8')),
);
const manager = model.nodes.find((node) => node.role === 'manager');
const update = updateRequestSchema.parse({
  cluster: model.name,
  service: 'orders-api',
  artifact: 's3://artifacts/orders-api-1.0.1.car',
});
const deploy = {
  cluster: model.name,
  service: 'orders-api',
  artifact: 's3://artifacts/orders-api-1.0.0.car',
  syncTimeoutSeconds: 600,
  dryRun: false,
} as Parameters<typeof planDeploy>[2];

describe('the manager in active/passive is the passive node', () => {
  it('is so in the shipped models', () => {
    expect(manager?.slot).toBe('b');
  });

  it('takes a hotfix first with no shift, and the plan says why', () => {
    const plan = planUpdate(model, activePassiveSnapshot(model), update);
    expect(plan.changed.instanceId).toBe(manager?.instanceId);
    expect(plan.shifts.changedOut).toBeNull();
    expect(plan.steps.map((step) => step.step)).not.toContain(STEPS.managerOut);
    const firstChange = plan.steps.findIndex((step) => step.instanceId === manager?.instanceId);
    expect(plan.steps.slice(0, firstChange).some((step) => step.weights)).toBe(false);
    expect(plan.order).toBe(
      `The manager ${manager?.instanceId} carries no traffic, so the hotfix goes to it first with no shift; it takes ` +
        'the traffic only once it has passed its smoke test and checks, and the workers sync after that.',
    );
  });

  it('takes a new service first, without touching the node that serves', () => {
    const plan = planDeploy(model, activePassiveSnapshot(model), deploy);
    expect(plan.manager.instanceId).toBe(manager?.instanceId);
    expect(plan.steps[0]).toMatchObject({ instanceId: manager?.instanceId });
    expect(plan.order).toMatch(/^The manager i-\w+ carries no traffic, so the artifact goes to it first with no shift/);
  });

  it('says when the manager serves in active/passive, and what the runbook would do instead', () => {
    const servingManager = model.nodes.map((node) => ({ ...node, role: node.slot === 'a' ? 'manager' : 'worker' }));
    const swapped = { ...model, nodes: servingManager } as typeof model;
    const plan = planUpdate(swapped, activePassiveSnapshot(swapped), update);
    expect(plan.shifts.changedOut).not.toBeNull();
    expect(plan.order).toMatch(/serves traffic, so it is taken out of service first/);
    expect(plan.order).toMatch(/The runbook makes the passive node the manager, which would need no shift/);
  });
});
