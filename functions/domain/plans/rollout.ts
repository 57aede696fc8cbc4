import * as z from 'zod/mini';
import { requiredServing } from '../capacity';
import { bakesImages, type ClusterModel, type CommandKind, DEFAULT_BAKE_TIMEOUT_SECONDS } from '../cluster-model';
import type { DatabaseEngine } from '../database';
import { InputValidationError } from '../errors';
import { clusterNameSchema } from '../field-issues';
import { DEFAULT_RETAINED_IMAGES } from '../images';
import { parseInput } from '../input';
import { operatorValueSchema } from '../operator-values';
import { type ClusterSnapshot, currentVersionOf, launchedNodeVersion } from '../snapshot';
import { versionRecordParameterName } from '../version-record';
import type { MaintenanceWorkflow } from '../workflows';
import { type ExecutionBudget, type PlanDuration, WorstCaseTally } from './duration';
import {
  activeActiveTakeover,
  activePassiveTakeover,
  duringSteps,
  type PlanNode,
  type PlanStep,
  type StaleSurge,
} from './plan';
import {
  planNode,
  requireCommands,
  requireHealthyNodes,
  requireVersionReporting,
  requireWeightedTraffic,
  weightsOf,
} from './preconditions';
import { planShift, type ShiftPlan, shiftOptionsSchema } from './shift-stages';
import { STEPS } from './steps';

/**
 * The rollout plan of patch-server and upgrade-version: which node changes first, the weights of every shift, and the healthy serving capacity
 * predicted after each step. The state machine reads its node ids and weights from here, and a dry run returns it
 * as the answer, so what an operator reviews is what runs.
 */

const versionSchema = operatorValueSchema('version');

const rolloutOptions = {
  cluster: clusterNameSchema,
  /** Active/passive: move traffic back to the original active node at the end. @default true */
  shiftBack: z._default(z.boolean(), true),
  /** Leave the surge node running at the end, for debugging. @default false */
  keepSurge: z._default(z.boolean(), false),
  /** Return the plan and touch nothing. @default false */
  dryRun: z._default(z.boolean(), false),
  /** Shift traffic in stages, with a bake and an alarm check after each. @default - one step */
  shift: shiftOptionsSchema,
};

export const patchRequestSchema = z.strictObject({
  ...rolloutOptions,
  /** Passed to the cluster's patch document as its input parameter. */
  patchId: operatorValueSchema('patchId'),
  /** The version nodes must report after the patch; checks with `expectVersion` compare against it. */
  version: z.optional(versionSchema),
});
export type PatchRequest = z.output<typeof patchRequestSchema>;

export const upgradeRequestSchema = z.strictObject({
  ...rolloutOptions,
  /** The version to install; passed to the migrate and upgrade documents, and expected from every node. */
  version: versionSchema,
  /** Run the cluster's database migration command first. @default true */
  migrate: z._default(z.boolean(), true),
});
export type UpgradeRequest = z.output<typeof upgradeRequestSchema>;

export const ROLLOUT_WORKFLOWS = ['patch-server', 'upgrade-version'] as const satisfies readonly MaintenanceWorkflow[];
export type RolloutWorkflow = (typeof ROLLOUT_WORKFLOWS)[number];

/** What a rollout does to each node, whichever workflow asked for it. */
export interface RolloutSpec {
  readonly workflow: RolloutWorkflow;
  /** The verb of the per-node step: "Patch", "Upgrade". */
  readonly verb: string;
  readonly command: { readonly kind: CommandKind; readonly input: string };
  /** Run once, on the first node, before any node changes. */
  readonly migration: { readonly kind: CommandKind; readonly input: string } | null;
  readonly expectedVersion: string | null;
  readonly shiftBack: boolean;
  readonly keepSurge: boolean;
  readonly shift: z.output<typeof shiftOptionsSchema>;
}

/** Validates a request for the workflow and turns it into the rollout it asks for. */
export function rolloutSpecFor(
  workflow: RolloutWorkflow,
  request: unknown,
): RolloutSpec & { request: PatchRequest | UpgradeRequest } {
  const options = ({ shiftBack, keepSurge, shift }: PatchRequest | UpgradeRequest) => ({ shiftBack, keepSurge, shift });
  if (workflow === 'patch-server') {
    const patch = parseInput(patchRequestSchema, request, workflow);
    return {
      request: patch,
      workflow,
      verb: 'Patch',
      command: { kind: 'patch', input: patch.patchId },
      migration: null,
      expectedVersion: patch.version ?? null,
      ...options(patch),
    };
  }
  const upgrade = parseInput(upgradeRequestSchema, request, workflow);
  return {
    request: upgrade,
    workflow,
    verb: 'Upgrade',
    command: { kind: 'upgrade', input: upgrade.version },
    migration: upgrade.migrate ? { kind: 'migrate', input: upgrade.version } : null,
    expectedVersion: upgrade.version,
    ...options(upgrade),
  };
}

/** One node of an active/active cluster, taken out, patched and returned in turn. */
export interface RotationItem {
  readonly node: PlanNode;
  readonly drain: ShiftPlan;
  readonly restore: ShiftPlan;
}

/**
 * When an upgrade migrates the database, and what that means for a failure. The migration is the point of no return:
 * a schema cannot be migrated back, so from it on a failure keeps traffic on nodes that run on the migrated schema.
 */
export interface MigrationPlan {
  readonly kind: CommandKind;
  readonly input: string;
  /**
   * `first`: before any node changes, when the old version runs on the new schema. `last`: once every node that
   * carries traffic runs the new version, so that no old-version node ever serves on the migrated schema.
   */
  readonly order: 'first' | 'last';
  /** Always a node that carries no traffic: an idle permanent node, or the surge node where there is none. */
  readonly node: 'surge' | PlanNode;
  /** Taken before the migration and waited for; null when the model names no database. */
  readonly snapshot: {
    readonly engine: DatabaseEngine;
    readonly identifier: string;
    readonly timeoutSeconds: number;
  } | null;
  /** The version every permanent node ran before the upgrade, as the snapshot of the cluster found it. */
  readonly fromVersion: string | null;
  /** The point of no return, in plain words: what a failure does before it and after it. */
  readonly pointOfNoReturn: string;
  /**
   * The version a node must run to serve once the migrations started: the new one when the old version cannot run on
   * the migrated schema (order `last`), else null. The lock's record carries it from the point of no return, so a
   * failover holds every node that would take traffic or a slot to it, even with no survivor to compare with.
   */
  readonly schemaNeeds: string | null;
}

/**
 * The image a successful rollout bakes, so that surge, replacement and DR nodes boot on what the cluster now runs. It
 * is baked from a node that carries no traffic once the rollout is done, and published only then.
 */
export interface ImagePlan {
  /**
   * Active/passive: the node left idle. Active/active: the surge node, which the rollout changes too once it is out
   * of service, since every permanent node serves.
   */
  readonly node: 'surge' | PlanNode;
  /** What the image is tagged with: the version rolled out, or the patch applied. */
  readonly version: string;
  /** The DR region the image is copied to; null without a DR site. */
  readonly drRegion: string | null;
  /** How many baked images each region keeps, the current one included. */
  readonly retain: number;
  readonly timeoutSeconds: number;
}

export interface RolloutPlan {
  readonly workflow: RolloutWorkflow;
  readonly cluster: string;
  readonly topology: ClusterModel['topology'];
  readonly command: RolloutSpec['command'];
  readonly migration: MigrationPlan | null;
  /** Null when the cluster does not bake images (`images.bake`). */
  readonly image: ImagePlan | null;
  /** Why the nodes change in this order, and where the database migrations fall: what the dry run says first. */
  readonly order?: string;
  /** Null when the request names no version (the state machine always finds the field). */
  readonly expectedVersion: string | null;
  /**
   * The version every permanent node reports before the change: the surge node, launched from the cluster's image, must
   * report it too, or it is a stale image's node. Null when they report none or disagree, and then nothing is compared.
   */
  readonly currentVersion: string | null;
  /**
   * A surge node on another version than `currentVersion` gets this rollout's change before it is judged: true when
   * the change may be what it lacks, because the request names no version or the nodes already report the one it
   * names (a rerun after an interrupted rollout). Otherwise it is a stale image's node, and fails at once.
   */
  readonly surgeCatchUp: boolean;
  /**
   * What `Verify the surge node` expects: `currentVersion` where the surge node boots from `surge.imageParameter`,
   * which is kept in step with the cluster; null (nothing compared) with a fixed `surge.imageId`.
   */
  readonly surgeVersion: string | null;
  readonly baselineServing: number;
  readonly requiredServing: number;
  readonly surgeSlot: string;
  /** Active/passive: the passive node, patched first; then the active one. */
  readonly first?: PlanNode;
  readonly second?: PlanNode;
  readonly weights: {
    /** What rollback restores. */
    readonly initial: Readonly<Record<string, number>>;
    readonly final: Readonly<Record<string, number>>;
  };
  /** Every traffic move, in stages. */
  readonly shifts: {
    readonly toFirst?: ShiftPlan;
    readonly back?: ShiftPlan;
    /** Active/active: the surge node takes a share while nodes rotate, and gives it back at the end. */
    readonly surgeIn?: ShiftPlan;
    readonly surgeOut?: ShiftPlan;
  };
  /** Active/active: the nodes in the order they are patched. */
  readonly rotation: RotationItem[];
  readonly keepSurge: boolean;
  readonly steps: PlanStep[];
}

/** Plans a patch of every permanent node, from the snapshot of the cluster as it is now. */
export function planRollout(model: ClusterModel, snapshot: ClusterSnapshot, request: RolloutSpec): RolloutPlan {
  const verb = request.verb;
  const what = verb.toLowerCase();
  requireWeightedTraffic(model, request.workflow);
  requireCommands(model, request.workflow, [
    request.command.kind,
    ...(request.migration ? [request.migration.kind] : []),
  ]);
  requireVersionReporting(model, request.expectedVersion);
  requireHealthyNodes(model, snapshot, what);
  const surgeSlot = model.traffic.surgeSlot;
  const initial = weightsOf(snapshot);
  const drain = model.capacity.drainSeconds;
  const baseline = snapshot.servingHealthyNodes;
  const required = requiredServing(baseline, model.capacity.minHealthyPercent);
  const currentVersion = currentVersionOf(snapshot);
  const surgeVersion = launchedNodeVersion(currentVersion, model.surge.imageParameter);
  const common = {
    workflow: request.workflow,
    cluster: model.name,
    topology: model.topology,
    command: request.command,
    expectedVersion: request.expectedVersion,
    currentVersion,
    surgeVersion,
    surgeCatchUp:
      surgeVersion !== null && (request.expectedVersion === null || request.expectedVersion === surgeVersion),
    baselineServing: baseline,
    requiredServing: required,
    surgeSlot,
    keepSurge: request.keepSurge,
  };
  const versionOfCluster = common.surgeVersion;
  // A failover adopts the surge node only if it reports the version of the permanent nodes left in service
  // (confirm-node-loss): where the request names a new version, the surge node stays on the old one until it is
  // changed for the image (active/active), so once only changed nodes are left a replacement is launched instead.
  // A fixed image's surge node is held to no version, in the failover as in the rollout.
  const newVersion =
    model.surge.imageParameter && request.expectedVersion !== null && request.expectedVersion !== currentVersion
      ? request.expectedVersion
      : null;
  const staleSurge = (when: StaleSurge['when'] | null): StaleSurge | undefined =>
    newVersion !== null && when !== null ? { version: newVersion, surgeVersion, when } : undefined;
  const surgeSteps = (serving: number): PlanStep[] => [
    {
      step: 'Launch surge node',
      action: `RunInstances from ${model.surge.launchTemplateId}`,
      predictedServing: serving,
    },
    {
      step: 'Wait until the surge node is ready',
      action: 'poll instance, SSM agent, target and HTTP checks',
      predictedServing: serving,
    },
    {
      step: STEPS.verifySurge,
      action: versionOfCluster
        ? `HTTP checks, target health and version ${versionOfCluster} (what every node reports)${common.surgeCatchUp ? `; a surge node on another version gets the ${request.command.kind} first, and must then report ${versionOfCluster}` : ''}`
        : 'HTTP checks and target health',
      predictedServing: serving,
    },
  ];
  const commandSpec = model.commands[request.command.kind];
  const parameter = `${commandSpec?.inputParameter ?? 'input'}=${request.command.input}`;
  const migrationFor = (node: MigrationPlan['node']): MigrationPlan | null =>
    request.migration ? migrationPlan(model, request, request.migration, node, currentVersionOf(snapshot)) : null;
  const migrationSteps = (migration: MigrationPlan | null, serving: number): PlanStep[] =>
    migration ? migrationStepsOf(model, migration, serving) : [];
  const changeSteps = (label: string, node: PlanNode, serving: number): PlanStep[] => [
    {
      step: `${verb} ${label}`,
      action: `SSM ${commandSpec?.documentName} ${parameter}`,
      instanceId: node.instanceId,
      predictedServing: serving,
    },
    {
      step: `Wait until ${label} is ready`,
      action: 'poll instance, SSM agent, target and HTTP checks',
      instanceId: node.instanceId,
      predictedServing: serving,
    },
    {
      step: `Verify ${label}`,
      action: 'HTTP checks and target health',
      instanceId: node.instanceId,
      predictedServing: serving,
    },
  ];
  const retireSteps = (serving: number): PlanStep[] =>
    request.keepSurge
      ? [{ step: 'Keep the surge node', action: 'nothing (keepSurge)', predictedServing: serving }]
      : [{ step: 'Retire the surge node', action: 'deregister, drain, terminate', predictedServing: serving }];
  // What a region failover checks its DR nodes against: the primary region may be gone by then.
  const recordSteps = (serving: number): PlanStep[] => [
    {
      step: STEPS.recordVersion,
      action: `PutParameter ${versionRecordParameterName(model.name)} with the version every node reports${model.dr ? `, here and in ${model.dr.region}` : ''}`,
      predictedServing: serving,
    },
  ];

  if (model.topology === 'active-passive') {
    const active = snapshot.nodes.find((node) => node.serving);
    const passive = snapshot.nodes.find((node) => !node.serving);
    if (!active || !passive) {
      throw new InputValidationError(`Cluster "${model.name}" has no clear active and passive node`, [
        {
          path: 'nodes',
          message: `serving: ${snapshot.nodes.filter((n) => n.serving).length} of ${snapshot.nodes.length}`,
        },
      ]);
    }
    const first = planNode(passive, request.workflow);
    const second = planNode(active, request.workflow);
    const toFirst = { ...initial, [first.slot]: initial[second.slot] ?? 100, [second.slot]: 0 };
    const final = request.shiftBack ? initial : toFirst;
    const takeover = (serving: PlanNode, others: { idle?: PlanNode; outOfService?: PlanNode }, surgeReady = true) =>
      activePassiveTakeover({ serving, ...others, surgeReady });
    // Once both nodes are changed, the idle one runs the new version and the surge node, never changed, the old.
    const changedTakeover = (serving: PlanNode, idle: PlanNode) =>
      activePassiveTakeover({ serving, idle, surgeReady: true, staleSurge: staleSurge('always') });
    const [lastServing, lastIdle] = request.shiftBack ? [second, first] : [first, second];
    // Migrating first, the passive node is idle; migrating last, the other node is, once traffic moved off it.
    const migration = migrationFor(migratesFirst(model) ? first : second);
    const image = imagePlanFor(model, request, snapshot, lastIdle);
    return {
      ...common,
      migration,
      image,
      ...(migration ? { order: migrationOrder(migration, 'the passive node', request.expectedVersion) } : {}),
      first,
      second,
      weights: { initial, final },
      shifts: {
        toFirst: planShift(initial, toFirst, request.shift, drain),
        back: planShift(toFirst, initial, request.shift, drain),
      },
      rotation: [],
      steps: [
        ...duringSteps(surgeSteps(1), takeover(second, { idle: first }, false)),
        ...duringSteps(
          [
            ...(migration?.order === 'first' ? migrationSteps(migration, 1) : []),
            ...changeSteps('the passive node', first, 1),
          ],
          takeover(second, { outOfService: first }),
        ),
        ...duringSteps(
          [
            { step: STEPS.shiftToPatched, action: 'ModifyListener', weights: toFirst, predictedServing: 1 },
            {
              step: STEPS.verifyPatchedUnderTraffic,
              action: 'HTTP checks and target health',
              instanceId: first.instanceId,
              predictedServing: 1,
            },
          ],
          takeover(first, { idle: second }),
        ),
        ...duringSteps(changeSteps('the other node', second, 1), takeover(first, { outOfService: second })),
        ...duringSteps(migration?.order === 'last' ? migrationSteps(migration, 1) : [], changedTakeover(first, second)),
        ...duringSteps(
          [
            ...(request.shiftBack
              ? [{ step: STEPS.shiftBack, action: 'ModifyListener', weights: final, predictedServing: 1 }]
              : []),
          ],
          changedTakeover(second, first),
        ),
        // The bake reboots the idle node, out of service in the lock's record until it is back and verified.
        ...imageSteps(model, image, request.command.kind, 1).map((step) => ({
          ...step,
          ifNodeLost:
            step.step === STEPS.bakeImage || step.step === STEPS.verifyImageSource
              ? takeover(lastServing, { outOfService: lastIdle })
              : changedTakeover(lastServing, lastIdle),
        })),
        ...duringSteps([...retireSteps(1), ...recordSteps(1)], takeover(lastServing, { idle: lastIdle }, false)),
      ],
    };
  }

  const serving = snapshot.nodes.filter((node) => node.serving).map((node) => planNode(node, request.workflow));
  const share = Math.max(
    1,
    Math.round(Object.values(initial).reduce((sum, weight) => sum + weight, 0) / Math.max(1, serving.length)),
  );
  const surgeIn = { ...initial, [surgeSlot]: share };
  const rotation = serving.map((node): RotationItem => {
    const out = { ...surgeIn, [node.slot]: 0 };
    return {
      node,
      drain: planShift(surgeIn, out, request.shift, drain),
      restore: planShift(out, surgeIn, request.shift, drain),
    };
  });
  const surgeOut = { ...initial, [surgeSlot]: 0 };
  // Whether the permanent nodes left in service after a loss run only the new version, while the first `changed`
  // nodes of the rotation have been: for every serving node lost, for some, or for none.
  const staleWhen = (changed: number, outOfService?: PlanNode): StaleSurge['when'] | null => {
    const lost = serving.filter((node) => node !== outOfService);
    const onlyChangedLeft = lost.map((node) => {
      const left = serving.filter((other) => other !== node && other !== outOfService);
      return left.length > 0 && left.every((other) => serving.indexOf(other) < changed);
    });
    if (onlyChangedLeft.every(Boolean)) return 'always';
    return onlyChangedLeft.some(Boolean) ? 'if-only-changed-left' : null;
  };
  const allChanged = staleSurge(staleWhen(serving.length));
  // Every permanent node serves: the surge node is the one that carries no traffic, before it goes in or once out.
  const migration = migrationFor('surge');
  const image = imagePlanFor(model, request, snapshot, 'surge');
  return {
    ...common,
    migration,
    image,
    ...(migration ? { order: migrationOrder(migration, 'each node in turn', request.expectedVersion) } : {}),
    weights: { initial, final: surgeOut },
    shifts: {
      surgeIn: planShift(initial, surgeIn, request.shift, drain),
      surgeOut: planShift(surgeIn, surgeOut, request.shift, drain),
    },
    rotation,
    steps: [
      ...duringSteps(surgeSteps(baseline), activeActiveTakeover({ surge: 'none' })),
      ...duringSteps(
        migration?.order === 'first' ? migrationSteps(migration, baseline) : [],
        activeActiveTakeover({ surge: 'ready' }),
      ),
      ...duringSteps(
        [{ step: STEPS.surgeIn, action: 'ModifyListener', weights: surgeIn, predictedServing: baseline + 1 }],
        activeActiveTakeover({ surge: 'serving' }),
      ),
      ...rotation.flatMap((item, index) => [
        ...duringSteps(
          [
            {
              step: `Take ${item.node.instanceId} out of service`,
              action: 'ModifyListener, then drain',
              weights: item.drain.stages.at(-1)?.weights,
              predictedServing: baseline,
            },
            ...changeSteps(`node ${item.node.instanceId}`, item.node, baseline),
          ],
          activeActiveTakeover({
            surge: 'serving',
            outOfService: item.node,
            staleSurge: staleSurge(staleWhen(index, item.node)),
          }),
        ),
        ...duringSteps(
          [
            {
              step: `Return ${item.node.instanceId} to service`,
              action: 'ModifyListener',
              weights: item.restore.stages.at(-1)?.weights,
              predictedServing: baseline + 1,
            },
            {
              step: `Verify ${item.node.instanceId} under traffic`,
              action: 'HTTP checks and target health',
              instanceId: item.node.instanceId,
              predictedServing: baseline + 1,
            },
          ],
          activeActiveTakeover({ surge: 'serving', staleSurge: staleSurge(staleWhen(index + 1)) }),
        ),
      ]),
      ...duringSteps(
        [
          { step: STEPS.surgeOut, action: 'ModifyListener, then drain', weights: surgeOut, predictedServing: baseline },
          ...(migration?.order === 'last' ? migrationSteps(migration, baseline) : []),
        ],
        activeActiveTakeover({ surge: 'ready', staleSurge: allChanged }),
      ),
      // The surge node runs the new version too once it is changed for the image.
      ...imageSteps(model, image, request.command.kind, baseline).map((step) => ({
        ...step,
        ifNodeLost: activeActiveTakeover({
          surge: 'ready',
          staleSurge: step.step === STEPS.changeSurge ? allChanged : undefined,
        }),
      })),
      ...duringSteps([...retireSteps(baseline), ...recordSteps(baseline)], activeActiveTakeover({ surge: 'none' })),
    ],
  };
}

/** The worst case of a rollout: every node's command at its timeout, every boot at the ready timeout, every bake. */
export function rolloutWorstCase(model: ClusterModel, plan: RolloutPlan, budget: ExecutionBudget): PlanDuration {
  const tally = new WorstCaseTally(model, budget).surge();
  // A surge node that boots on another version than the nodes gets the change before it stands by.
  if (plan.surgeCatchUp) tally.command(plan.command.kind).nodeUp();
  if (plan.migration) {
    tally.command(plan.migration.kind);
    if (plan.migration.snapshot) tally.snapshot(plan.migration.snapshot.timeoutSeconds);
  }
  const nodes = plan.topology === 'active-passive' ? 2 : plan.rotation.length;
  tally.command(plan.command.kind, nodes).nodeUp(nodes);
  for (const shift of [plan.shifts.toFirst, plan.shifts.back, plan.shifts.surgeIn, plan.shifts.surgeOut]) {
    tally.shift(shift);
  }
  for (const item of plan.rotation) tally.shift(item.drain).shift(item.restore).steps(1);
  if (plan.image) {
    // Active/active changes the surge node before it bakes it; a copy to the DR region is waited for as long again.
    if (plan.image.node === 'surge') tally.command(plan.command.kind).nodeUp();
    // The idle node the image is baked from reboots, and is waited for before the rollout goes on.
    else tally.nodeUp();
    tally.snapshot(plan.image.timeoutSeconds).steps(1);
    if (plan.image.drRegion) tally.snapshot(plan.image.timeoutSeconds);
  }
  // Verify the surge node (active/active) or the patched node under traffic (active/passive).
  return tally.steps(1).retire(plan.keepSurge).total();
}

/** Whether the model declares that the old version runs on the migrated schema, so the migrations may run first. */
export function migratesFirst(model: ClusterModel): boolean {
  return model.database?.oldVersionRunsOnNewSchema === true;
}

function migrationPlan(
  model: ClusterModel,
  request: RolloutSpec,
  command: NonNullable<RolloutSpec['migration']>,
  node: MigrationPlan['node'],
  fromVersion: string | null,
): MigrationPlan {
  const database = model.database;
  const snapshot = database
    ? { engine: database.engine, identifier: database.identifier, timeoutSeconds: database.snapshotTimeoutSeconds }
    : null;
  const version = request.expectedVersion ?? command.input;
  const restore = snapshot
    ? `and names the snapshot of ${snapshot.identifier} taken just before the migrations, to restore from`
    : 'and has no snapshot to name: the model names no database, so none is taken (name one under "database")';
  return {
    ...command,
    order: migratesFirst(model) ? 'first' : 'last',
    node,
    snapshot,
    fromVersion,
    schemaNeeds: migratesFirst(model) ? null : version,
    pointOfNoReturn:
      `"${STEPS.runMigrations}" is the point of no return. Before it, a failure rolls back: the weights return to ` +
      'where the workflow found them. From it on, the schema is migrated and cannot go back: a failure keeps traffic ' +
      `on the nodes that run ${version} and passed their checks, or stops on the last safe weights, ${restore}.`,
  };
}

function nodeName(node: MigrationPlan['node']): string {
  return node === 'surge' ? 'the surge node' : node.instanceId;
}

/** The dry run's first words on an upgrade that migrates: when the migrations run, on which node, and why then. */
function migrationOrder(migration: MigrationPlan, changed: string, version: string | null): string {
  const where = `on ${nodeName(migration.node)}, which carries no traffic then`;
  const when =
    migration.order === 'first'
      ? `The old version runs on the migrated schema (database.oldVersionRunsOnNewSchema), so the migrations run ` +
        `first, ${where}, before ${changed} is upgraded.`
      : `The old version does not run on the migrated schema, so the migrations run last, ${where}, once every node ` +
        `that carries traffic runs ${version ?? 'the new version'}: no old-version node serves on the new schema. ` +
        'The new version must start on the old schema until then.';
  return `${when} ${migration.pointOfNoReturn}`;
}

function migrationStepsOf(model: ClusterModel, migration: MigrationPlan, serving: number): PlanStep[] {
  const instanceId = migration.node === 'surge' ? undefined : migration.node.instanceId;
  const onNode = instanceId ? { instanceId } : {};
  return [
    ...(migration.snapshot
      ? [
          {
            step: STEPS.snapshotDatabase,
            action: `${migration.snapshot.engine === 'aurora-cluster' ? 'CreateDBClusterSnapshot' : 'CreateDBSnapshot'} of ${migration.snapshot.identifier}, named after the execution; wait until available`,
            predictedServing: serving,
          },
        ]
      : []),
    {
      step: STEPS.runMigrations,
      action: `SSM ${model.commands[migration.kind]?.documentName} on ${nodeName(migration.node)} (the point of no return)`,
      ...onNode,
      predictedServing: serving,
      pointOfNoReturn: true,
    },
  ];
}

function imagePlanFor(
  model: ClusterModel,
  request: RolloutSpec,
  snapshot: ClusterSnapshot,
  node: ImagePlan['node'],
): ImagePlan | null {
  if (!bakesImages(model)) return null;
  const fromVersion = currentVersionOf(snapshot);
  return {
    node,
    version:
      request.expectedVersion ?? (fromVersion ? `${fromVersion}+${request.command.input}` : request.command.input),
    drRegion: model.dr?.region ?? null,
    retain: model.images?.retain ?? DEFAULT_RETAINED_IMAGES,
    timeoutSeconds: model.images?.bakeTimeoutSeconds ?? DEFAULT_BAKE_TIMEOUT_SECONDS,
  };
}

function imageSteps(model: ClusterModel, image: ImagePlan | null, kind: CommandKind, serving: number): PlanStep[] {
  if (!image) return [];
  const node = image.node === 'surge' ? 'the surge node' : image.node.instanceId;
  return [
    ...(image.node === 'surge'
      ? [
          {
            step: STEPS.changeSurge,
            action: `SSM ${model.commands[kind]?.documentName} on the surge node, then wait for it and verify it`,
            predictedServing: serving,
          },
        ]
      : []),
    {
      step: STEPS.bakeImage,
      action: `CreateImage of ${node} (it reboots; it carries no traffic), tagged ${image.version}; wait until available`,
      ...(image.node === 'surge' ? {} : { instanceId: image.node.instanceId }),
      predictedServing: serving,
    },
    ...(image.node === 'surge'
      ? []
      : [
          {
            step: STEPS.verifyImageSource,
            action: `wait until ${node} is back from the reboot (out of service until then), HTTP checks and version`,
            instanceId: image.node.instanceId,
            predictedServing: serving,
          },
        ]),
    ...(image.drRegion
      ? [
          {
            step: STEPS.copyImage,
            action: `CopyImage to ${image.drRegion}; wait until available`,
            predictedServing: serving,
          },
        ]
      : []),
    {
      step: STEPS.publishImage,
      action: `point ${[model.surge.imageParameter, model.dr?.imageParameter].filter(Boolean).join(' and ')} at it; keep ${image.retain} images`,
      predictedServing: serving,
    },
  ];
}
