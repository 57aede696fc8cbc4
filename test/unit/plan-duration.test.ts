import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_WORKFLOW_TIMEOUT } from '../../cdk/constructs/workflows';
import { PROJECT_ROOT } from '../../cdk/paths';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { PlanTooLongError } from '../../functions/domain/errors';
import { deployWorstCase, planDeploy } from '../../functions/domain/plans/deploy-service';
import { commandsTooLongFor, requireFitsExecution } from '../../functions/domain/plans/duration';
import { planRollout, rolloutSpecFor, rolloutWorstCase } from '../../functions/domain/plans/rollout';
import { activePassiveSnapshot } from '../harness/plan-snapshots';

const model = parseClusterModel(
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'local/clusters/local-cluster.json'), 'utf8')),
);
/** The default workflow timeout: what a cluster that sets none gives every execution. */
const BUDGET = {
  executionTimeoutSeconds: DEFAULT_WORKFLOW_TIMEOUT.toSeconds(),
  pollIntervalSeconds: 10,
  readyTimeoutSeconds: 900,
};

const activePassive = () => activePassiveSnapshot(model);

const patchPlan = (request: Record<string, unknown> = {}) =>
  planRollout(
    model,
    activePassive(),
    rolloutSpecFor('patch-server', { cluster: model.name, patchId: 'P42', ...request }),
  );

describe('the worst case of a plan', () => {
  it('adds up a patch from its commands, boots, shifts and steps', () => {
    // A named version the nodes do not run yet: a surge node on another version fails at once, and gets no patch.
    const duration = rolloutWorstCase(model, patchPlan({ version: '1.0.0-P42' }), BUDGET);

    // Two patches at their 1800 s timeout plus one poll; four boots (surge, passive, active, and the idle node's
    // reboot for the image) and the surge node's termination at the 900 s ready timeout; a drain after each of the
    // two shifts and at the retirement.
    expect(duration.worstCase).toEqual({
      bakes: 0,
      drains: 3 * 30,
      commands: 2 * (1800 + 10),
      bootWaits: 5 * 900,
      fileSync: 0,
      // The local cluster bakes images: the bake and its copy in the DR region, each at the 1800 s bake timeout.
      snapshots: 2 * (1800 + 10),
      steps: duration.worstCase.steps,
    });
    expect(duration.worstCaseSeconds).toBeLessThan(BUDGET.executionTimeoutSeconds);
    expect(() => requireFitsExecution('patch-server', duration)).not.toThrow();
  });

  it('adds the patch of a lagging surge node when the request names no version', () => {
    const named = rolloutWorstCase(model, patchPlan({ version: '1.0.0-P42' }), BUDGET).worstCase;
    const plan = patchPlan();
    const duration = rolloutWorstCase(model, plan, BUDGET);

    // Without a version the patch may be what the surge node lacks (a rerun): one more patch and one more boot.
    expect(plan.surgeCatchUp).toBe(true);
    expect(duration.worstCase.commands - named.commands).toBe(1800 + 10);
    expect(duration.worstCase.bootWaits - named.bootWaits).toBe(900);
  });

  it('refuses 10 stages of 3600 s bakes, naming the bakes and the execution timeout', () => {
    // The probe: a dry run planned 72,000 s of bakes against an execution timeout of 14,400 s.
    const shift = { steps: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], bakeSeconds: 3600 };
    const duration = rolloutWorstCase(model, patchPlan({ shift }), BUDGET);

    expect(duration.worstCase.bakes).toBe(72_000);
    expect(() => requireFitsExecution('patch-server', duration)).toThrow(PlanTooLongError);
    expect(() => requireFitsExecution('patch-server', duration)).toThrow(
      /patch-server may take up to \d+ s \(bakes 72000 s, .*\), more than its state machine's execution timeout of 21600 s/,
    );
  });

  it('counts file sync at its timeout on every worker of a deploy', () => {
    const plan = planDeploy(model, activePassive(), {
      cluster: model.name,
      service: 'orders-api',
      artifact: 's3://artifacts/orders-api-1.0.0.car',
      syncTimeoutSeconds: 900,
      dryRun: false,
    } as Parameters<typeof planDeploy>[2]);

    const duration = deployWorstCase(model, plan, BUDGET);

    expect(duration.worstCase.fileSync).toBe(plan.workers.length * 900);
    expect(duration.worstCase.commands).toBe(2 * (600 + 10));
  });

  it('names the commands a state machine could not wait for', () => {
    const slow = parseClusterModel({
      ...model,
      commands: { ...model.commands, migrate: { ...model.commands.migrate, timeoutSeconds: 172_800 } },
    });

    expect(commandsTooLongFor(slow, { executionTimeoutSeconds: 21_600, pollIntervalSeconds: 10 })).toEqual([
      { kind: 'migrate', timeoutSeconds: 172_800 },
    ]);
    expect(commandsTooLongFor(model, { executionTimeoutSeconds: 21_600, pollIntervalSeconds: 10 })).toEqual([]);
  });
});
