import * as path from 'node:path';
import { drStackIdFor, stackIdFor } from '../cdk/app';
import type { ClusterModel, ClusterModelInput } from '../functions/domain/cluster-model';
import { buildLocalApp, localClusterModel } from '../local/local-app';
import { createMotoCluster, createMotoDatabase } from '../local/moto-cluster';
import { createMotoDrSite, type MotoDrSite } from '../local/moto-dr';
import { provisionStackResources } from '../local/stack-resources';
import { readCloudAssembly, type SynthesizedStack } from '../local/synth';
import type { DataPlane } from './data-plane';
import { createStackDocuments, storedCommandsOf } from './documents';
import type { SandboxEnvironment } from './environment';
import { STATUS_TIMEOUT_MS } from './fleet';
import { type RunContext, waitUntil } from './run-context';
import type { Scenario } from './scenario';

/**
 * The scenario's cluster: its production stacks synthesized, built in moto as an operator would have it (with a DR
 * site when the scenario asks for one), its nodes booted and its services seeded.
 */
export interface SandboxCluster {
  readonly name: string;
  /** The cluster's stack and its DR stack, as deployed. */
  readonly stack: SynthesizedStack;
  readonly drStack: SynthesizedStack;
  /** The model as stored, with its DR block when there is a DR site. */
  readonly model: ClusterModel;
  /** The primary's target group of each slot, by slot. */
  readonly targetGroups: Readonly<Record<string, string>>;
  /** The slot of each of the primary's target groups, by ARN. */
  readonly slotOf: ReadonlyMap<string, string>;
  /** Every target group the health checker watches, in either region. */
  readonly targetGroupArns: readonly string[];
  readonly drSite: MotoDrSite | undefined;
}

/** Generous: nodes boot in a few seconds, and starting their processes takes longer on a busy machine. */
const READY_TIMEOUT_MS = 120_000;

export async function buildSandboxCluster(run: RunContext, environment: SandboxEnvironment): Promise<SandboxCluster> {
  const { cluster: spec } = run.scenario;
  run.log(`synthesizing the stack of cluster "${spec.name}"`);
  const { stack, drStack } = synthesizeSandboxStacks(path.join(environment.workDir, 'cdk.out'), spec.name);
  await provisionStackResources(stack);
  await createStackDocuments(environment.ssm, stack);
  const commands = storedCommandsOf(stack);
  const database = sandboxDatabase(run.scenario);
  const cluster = await createMotoCluster({
    name: spec.name,
    topology: spec.topology,
    nodePort: environment.nodePort,
    customize: (model) => ({
      ...model,
      commands,
      capacity: { minHealthyPercent: 75, drainSeconds: 30 },
      database,
    }),
  });
  // The database the model names exists, as on AWS, so that upgrade-version's snapshot of it works.
  // The sandbox has no database server: the nodes' schema lives in the shared database file, and this instance is
  // what the workflows snapshot (created with the sandbox's own client, so the report does not count the call).
  if (cluster.model.database) await createMotoDatabase(cluster.model.database.identifier, environment.rds);
  const drSite = spec.dr ? await createMotoDrSite(cluster, { nodeCount: spec.nodes }) : undefined;
  // The DR site's own lock table.
  if (drSite) await provisionStackResources(drStack);
  return {
    name: spec.name,
    stack,
    drStack,
    model: drSite?.model ?? cluster.model,
    targetGroups: cluster.targetGroups,
    slotOf: new Map(Object.entries(cluster.targetGroups).map(([slot, arn]) => [arn, slot])),
    targetGroupArns: [...Object.values(cluster.targetGroups), ...(drSite ? [drSite.targetGroupArn] : [])],
    drSite,
  };
}

/**
 * The database block of the sandbox's model: an RDS DB instance named after the cluster unless the scenario names it,
 * and how the product's versions live with its schema when the scenario says (otherwise the model's default holds).
 */
export function sandboxDatabase(scenario: Scenario): NonNullable<ClusterModelInput['database']> {
  const { name, database } = scenario.cluster;
  return {
    engine: 'rds-instance',
    identifier: database.identifier ?? `${name}-db`,
    ...(database.oldVersionRunsOnNewSchema === undefined
      ? {}
      : { oldVersionRunsOnNewSchema: database.oldVersionRunsOnNewSchema }),
  };
}

/**
 * The production app for one sandbox cluster, whose commands are the node kit's: its stack and its DR stack. The
 * model's ARNs are placeholders; the handlers read the real model from moto, with the commands the stack stores.
 */
function synthesizeSandboxStacks(outdir: string, clusterName: string) {
  buildLocalApp(outdir, [{ ...localClusterModel(), name: clusterName }]).synth();
  const assembly = readCloudAssembly(outdir);
  return { stack: assembly.stack(stackIdFor(clusterName)), drStack: assembly.stack(drStackIdFor(clusterName)) };
}

/** Waits until the permanent nodes pass their health checks, then seeds the scenario's services on them. */
export async function bootNodes(
  run: RunContext,
  environment: SandboxEnvironment,
  plane: DataPlane,
  cluster: SandboxCluster,
): Promise<void> {
  const { model } = cluster;
  const spec = run.scenario.cluster;
  run.log(`booting ${model.nodes.length} nodes (${spec.topology}, version ${spec.version})`);
  const permanentTargets = model.nodes.map((node) => ({ id: node.instanceId, port: environment.nodePort }));
  await waitUntil(
    async () => (await plane.call('targetStates', permanentTargets)).every((state) => state === 'healthy'),
    READY_TIMEOUT_MS,
    'the permanent nodes to pass their health checks',
    run.signal,
  );
  await seedServices(spec.services, model, environment, run.signal);
}

/** Deploys the scenario's services on the manager and waits until file sync has put them on every node. */
async function seedServices(
  services: Scenario['cluster']['services'],
  model: ClusterModel,
  { fleet }: SandboxEnvironment,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (services.length === 0) return;
  const manager = model.nodes.find((node) => node.role === 'manager');
  const url = manager ? fleet.nodes.get(manager.instanceId)?.url : undefined;
  if (!url) throw new Error('The manager node is not running');
  for (const service of services) {
    const answer = await fetch(`${url}/_control/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(service),
      signal: AbortSignal.timeout(5_000),
    });
    if (!answer.ok) throw new Error(`Deploying ${service.service} on the manager failed: HTTP ${answer.status}`);
  }
  const synced = new Set<string>();
  await waitUntil(
    async () => {
      for (const node of model.nodes) {
        if (synced.has(node.instanceId)) continue;
        const nodeUrl = fleet.nodes.get(node.instanceId)?.url;
        const found = await Promise.all(
          services.map((service) =>
            fetch(`${nodeUrl}/services/${service.service}`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
              .then(
                async (answer) =>
                  answer.ok && ((await answer.json()) as { artifact?: string }).artifact === service.artifact,
              )
              .catch(() => false),
          ),
        );
        if (found.every(Boolean)) synced.add(node.instanceId);
      }
      return synced.size === model.nodes.length;
    },
    READY_TIMEOUT_MS,
    'file sync to put the seeded services on every node',
    signal,
  );
}
