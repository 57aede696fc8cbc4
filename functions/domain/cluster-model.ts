import * as z from 'zod/mini';
import { ClusterModelError } from './errors';
import { clusterNameSchema, FIELD_ISSUE_PARSING, pattern, toFieldIssues } from './field-issues';

/** The longest drain a model may ask for: the lock's lease must outlast it (see lockLeaseSeconds). */
export const MAX_DRAIN_SECONDS = 3600;

/** The roles of permanent nodes: the manager deploys, the workers receive by file sync. */
export const NODE_ROLES = ['manager', 'worker'] as const;

/**
 * The cluster model: everything a workflow needs to know about one cluster. CDK validates it at synth time and
 * writes the normalized form to SSM Parameter Store; Lambdas load it by cluster name and validate it again, so a
 * hand-edited parameter cannot smuggle in a bad value.
 */

export const CLUSTER_PARAMETER_PREFIX = '/zerodown/clusters/';

/** A weighted forward action takes at most 5 target groups: up to 4 permanent nodes plus one surge slot. */
export const MAX_WEIGHTED_TARGET_GROUPS = 5;
const MAX_NODES_SINGLE_TARGET_GROUP = 50;

export function clusterParameterName(clusterName: string): string {
  return `${CLUSTER_PARAMETER_PREFIX}${clusterName}`;
}

const ARN_PARTITION = 'arn:aws(?:-[a-z]+)*';
const ACCOUNT = '\\d{12}';
const ELB_REGION = '[a-z]{2}(?:-[a-z]+)+-\\d';

const regionSchema = pattern(new RegExp(`^${ELB_REGION}$`), 'an AWS region such as eu-west-1');
const instanceIdSchema = pattern(/^i-[0-9a-f]{8,17}$/, 'an EC2 instance id (i-...)');
const subnetIdSchema = pattern(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id (subnet-...)');
const launchTemplateIdSchema = pattern(/^lt-[0-9a-f]{8,17}$/, 'a launch template id (lt-...)');
const imageIdSchema = pattern(/^ami-[0-9a-f]{8,17}$/, 'an AMI id (ami-...)');
const ssmParameterNameSchema = pattern(/^\/[a-zA-Z0-9_.\-/]{1,1010}$/, 'an SSM parameter name starting with /');
const launchTemplateVersionSchema = pattern(
  /^(\$Latest|\$Default|[1-9]\d*)$/,
  'a launch template version number, $Latest or $Default',
);

export const listenerArnSchema = pattern(
  new RegExp(
    `^${ARN_PARTITION}:elasticloadbalancing:${ELB_REGION}:${ACCOUNT}:listener/app/[\\w-]+/[0-9a-f]+/[0-9a-f]+$`,
  ),
  'an Application Load Balancer listener ARN',
);
const listenerRuleArnSchema = pattern(
  new RegExp(
    `^${ARN_PARTITION}:elasticloadbalancing:${ELB_REGION}:${ACCOUNT}:listener-rule/app/[\\w-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$`,
  ),
  'an Application Load Balancer listener rule ARN',
);
const targetGroupArnSchema = pattern(
  new RegExp(`^${ARN_PARTITION}:elasticloadbalancing:${ELB_REGION}:${ACCOUNT}:targetgroup/[\\w-]{1,32}/[0-9a-f]+$`),
  'a target group ARN',
);
const loadBalancerArnSchema = pattern(
  new RegExp(`^${ARN_PARTITION}:elasticloadbalancing:${ELB_REGION}:${ACCOUNT}:loadbalancer/app/[\\w-]+/[0-9a-f]+$`),
  'an Application Load Balancer ARN',
);
export const slotNameSchema = pattern(/^[a-z][a-z0-9-]{0,15}$/, 'a short slot name such as "a", "b" or "surge"');

const nodeSchema = z.strictObject({
  instanceId: instanceIdSchema,
  /** The manager holds the writable deployment directory; workers receive it by file sync. */
  role: z.enum(NODE_ROLES),
  /** The traffic slot (one target group each) of the weighted strategy. */
  slot: z.optional(slotNameSchema),
});

/** A listener can forward to at most 5 weighted target groups; a product rarely serves on more than a few ports. */
export const MAX_ADDITIONAL_LISTENERS = 3;

/**
 * Another listener that reaches the same nodes on another port (WSO2 API Manager's management listener on 9443 beside
 * its gateway on 8243). Each slot has its own target group behind it, and every shift gives this listener the same
 * weights as the cluster's listener: a node drained from the gateway must stop taking management calls too.
 */
const additionalListenerSchema = z.strictObject({
  /** How reports and errors name this listener, such as "management". */
  name: pattern(/^[a-z][a-z0-9-]{0,31}$/, 'a short listener name such as "management"'),
  listenerArn: listenerArnSchema,
  ruleArn: z.optional(listenerRuleArnSchema),
  /** The target group of every slot behind this listener, by slot name. */
  targetGroups: z.record(slotNameSchema, targetGroupArnSchema),
});

const weightedTrafficSchema = z.strictObject({
  strategy: z.literal('weighted-target-groups'),
  listenerArn: listenerArnSchema,
  /** When the cluster is served by a listener rule rather than the listener's default action. */
  ruleArn: z.optional(listenerRuleArnSchema),
  slots: z
    .array(z.strictObject({ name: slotNameSchema, targetGroupArn: targetGroupArnSchema }))
    .check(z.minLength(2), z.maxLength(MAX_WEIGHTED_TARGET_GROUPS)),
  /** The slot that surge nodes are registered in. No permanent node may occupy it. */
  surgeSlot: slotNameSchema,
  /** Listeners on the nodes' other ports, re-weighted and read back with the cluster's listener. */
  additionalListeners: z.optional(z.array(additionalListenerSchema).check(z.maxLength(MAX_ADDITIONAL_LISTENERS))),
});

const singleTargetGroupTrafficSchema = z.strictObject({
  strategy: z.literal('single-target-group'),
  listenerArn: listenerArnSchema,
  ruleArn: z.optional(listenerRuleArnSchema),
  targetGroupArn: targetGroupArnSchema,
});

const trafficSchema = z.discriminatedUnion('strategy', [weightedTrafficSchema, singleTargetGroupTrafficSchema]);

const securityGroupIdSchema = pattern(/^sg-[0-9a-f]{8,17}$/, 'a security group id (sg-...)');
const vpcIdSchema = pattern(/^vpc-[0-9a-f]{8,17}$/, 'a VPC id (vpc-...)');
const roleArnSchema = pattern(/^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'an IAM role ARN');

/**
 * Where zerodown's node-facing Lambdas run: they make HTTP health checks against the nodes' private IPs, so they
 * sit in the cluster's VPC. The subnets need a route to the EC2, ELB and SSM APIs (VPC endpoints or NAT).
 */
const networkSchema = z.strictObject({
  vpcId: vpcIdSchema,
  subnetIds: z.array(subnetIdSchema).check(z.minLength(1)),
  /** Groups the nodes accept health-check traffic from. */
  securityGroupIds: z.array(securityGroupIdSchema).check(z.minLength(1), z.maxLength(5)),
});

const surgeSchema = z.strictObject({
  launchTemplateId: launchTemplateIdSchema,
  launchTemplateVersion: z._default(launchTemplateVersionSchema, '$Latest'),
  /** Overrides the launch template's AMI. Give at most one of `imageId` and `imageParameter`. */
  imageId: z.optional(imageIdSchema),
  /** An SSM parameter that holds the current AMI id, so a new AMI needs no redeploy of zerodown. */
  imageParameter: z.optional(ssmParameterNameSchema),
  subnetIds: z.array(subnetIdSchema).check(z.minLength(1)),
  instanceType: z.optional(
    pattern(/^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$/, 'an EC2 instance type such as m7g.large'),
  ),
  tags: z._default(
    z.record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256))),
    {},
  ),
  /** The role of the launch template's instance profile, which launching must be allowed to pass. */
  instanceRoleArn: z.optional(roleArnSchema),
});

const httpCheckSchema = z.strictObject({
  name: pattern(/^[A-Za-z0-9][\w .-]{0,63}$/, 'a short check name'),
  path: pattern(/^\/[^\s]*$/, 'a URL path starting with /'),
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  protocol: z._default(z.enum(['http', 'https']), 'http'),
  expectedStatus: z._default(z.int().check(z.minimum(100), z.maximum(599)), 200),
  /** Text the response body must contain. */
  bodyContains: z.optional(z.string().check(z.minLength(1))),
  /** The body must contain the version the workflow is rolling out. */
  expectVersion: z._default(z.boolean(), false),
  timeoutMs: z._default(z.int().check(z.minimum(100), z.maximum(30_000)), 2_000),
});

const healthChecksSchema = z.strictObject({
  http: z.array(httpCheckSchema).check(z.minLength(1)),
  /** Also require the ALB to report the node's target as healthy. */
  targetHealth: z._default(z.boolean(), true),
  /** Where a node reports the version it runs; the snapshot reads it. */
  version: z.optional(
    z.strictObject({
      path: pattern(/^\/[^\s]*$/, 'a URL path starting with /'),
      port: z.int().check(z.minimum(1), z.maximum(65535)),
      protocol: z._default(z.enum(['http', 'https']), 'http'),
    }),
  ),
});

export const COMMAND_KINDS = [
  'patch',
  'upgrade',
  'deploy',
  'migrate',
  'syncPause',
  'syncResume',
  'smokeTest',
  'expose',
  /** Run on every node once a failover adopted a replacement: the members' and the manager's new addresses. */
  'reconfigure',
] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

const documentParameterName = pattern(/^[A-Za-z][A-Za-z0-9]{0,63}$/, 'an SSM document parameter name');

/**
 * AWS documents that run whatever script or playbook their caller passes: with one of them, an operator value would
 * be a command line run as root. A command must name a document with typed parameters (the node kit's, or the
 * user's own).
 */
export const ARBITRARY_SHELL_DOCUMENTS = [
  'AWS-RunShellScript',
  'AWS-RunPowerShellScript',
  'AWS-RunRemoteScript',
  'AWS-RunDocument',
  'AWS-RunAnsiblePlaybook',
  'AWS-ApplyAnsiblePlaybooks',
  'AWS-RunSaltState',
  'AWS-ApplyChefRecipes',
] as const;

/** The command kinds the node kit (kits/node) has a document for. */
export const NODE_KIT_COMMAND_KINDS = COMMAND_KINDS.filter(
  (kind): kind is Exclude<CommandKind, 'expose'> => kind !== 'expose',
);

const commandSchema = z.strictObject({
  /**
   * Run the node kit's document for this kind, which the cluster's stack creates; the stack stores the model with
   * the document's name, version and parameter in place of this field.
   */
  kit: z.optional(z.literal('node')),
  documentName: z.optional(
    pattern(
      /^(arn:aws(?:-[a-z]+)*:ssm:[a-z0-9-]+:\d{12}:document\/)?[a-zA-Z0-9_.-]{3,128}$/,
      'an SSM document name or ARN',
    ).check(
      z.refine(
        (name) => !(ARBITRARY_SHELL_DOCUMENTS as readonly string[]).includes(name.split('/').at(-1) ?? name),
        'runs any shell its caller passes; name a document with typed parameters and an allowedPattern instead',
      ),
    ),
  ),
  /**
   * The document version to run, pinned: an edit of the document changes nothing until the model names the new
   * version. `$LATEST` and `$DEFAULT` are refused for that reason.
   */
  documentVersion: z.optional(
    pattern(/^[1-9]\d{0,9}$/, 'a document version number such as 1 ($LATEST and $DEFAULT are not pinned)'),
  ),
  /** Fixed document parameters. Values the operator supplies per run are added under `inputParameter`. */
  parameters: z._default(
    z.record(documentParameterName, z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(50))),
    {},
  ),
  /** The document parameter that receives the operator's value (patch id, artifact, version). */
  inputParameter: z.optional(documentParameterName),
  timeoutSeconds: z._default(z.int().check(z.minimum(30), z.maximum(172_800)), 600),
});

const commandsSchema = z.strictObject(
  Object.fromEntries(COMMAND_KINDS.map((kind) => [kind, z.optional(commandSchema)])) as Record<
    CommandKind,
    z.ZodMiniOptional<typeof commandSchema>
  >,
);

const capacitySchema = z.strictObject({
  /** Share of the current load the nodes that keep serving must be able to carry (the runbook says 75). */
  minHealthyPercent: z._default(z.int().check(z.minimum(1), z.maximum(100)), 75),
  /** How long a node keeps finishing in-flight requests after its weight drops to 0. */
  drainSeconds: z._default(z.int().check(z.minimum(0), z.maximum(MAX_DRAIN_SECONDS)), 30),
});

const drSchema = z.strictObject({
  region: regionSchema,
  launchTemplateId: launchTemplateIdSchema,
  launchTemplateVersion: z._default(launchTemplateVersionSchema, '$Latest'),
  imageId: z.optional(imageIdSchema),
  imageParameter: z.optional(ssmParameterNameSchema),
  subnetIds: z.array(subnetIdSchema).check(z.minLength(1)),
  /** For the DR function that checks the DR nodes on their private IPs. */
  securityGroupIds: z.array(securityGroupIdSchema).check(z.minLength(1), z.maxLength(5)),
  nodeCount: z._default(z.int().check(z.minimum(1), z.maximum(MAX_WEIGHTED_TARGET_GROUPS - 1)), 2),
  loadBalancerArn: loadBalancerArnSchema,
  targetGroupArn: targetGroupArnSchema,
  hostedZoneId: pattern(/^[A-Z0-9]{1,32}$/, 'a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ'),
  recordName: pattern(/^([a-zA-Z0-9_-]{1,63}\.)+[a-zA-Z]{2,63}\.?$/, 'a DNS name'),
  routing: z._default(z.enum(['failover', 'weighted']), 'failover'),
  /** The role of the instance profile the DR launch template names, which launching from it passes to EC2. */
  instanceRoleArn: z.optional(roleArnSchema),
});

/**
 * The cluster's database, which upgrade-version snapshots before its first migration. Naming it also declares how
 * the product's versions live with its schema, which decides when the migrations run.
 */
const databaseSchema = z.strictObject({
  engine: z.enum(['rds-instance', 'aurora-cluster']),
  /** The DB instance identifier, or the Aurora DB cluster identifier. */
  identifier: pattern(
    /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}$/,
    'an RDS DB instance or Aurora DB cluster identifier (letters, digits and single hyphens, starting with a letter)',
  ).check(z.refine((id) => !id.endsWith('-'), 'must not end with a hyphen')),
  /**
   * Whether the version being replaced keeps working on the migrated schema (an expand-only migration). When it
   * does, the migrations run first, before any node changes; when it does not, they run last, once every node that
   * carries traffic runs the new version. @default false
   */
  oldVersionRunsOnNewSchema: z._default(z.boolean(), false),
  /** How long upgrade-version waits for the snapshot to become available. @default 3600 */
  snapshotTimeoutSeconds: z._default(z.int().check(z.minimum(300), z.maximum(86_400)), 3600),
});

/** How long a bake, and its copy in the DR region, may take by default. */
export const DEFAULT_BAKE_TIMEOUT_SECONDS = 1800;

/** The number of baked images zerodown keeps at most, the current one included. */
export const MAX_RETAINED_IMAGES = 20;

/**
 * Baking: after a successful patch-server or upgrade-version, an AMI of a changed node that carries no traffic
 * becomes the image that surge, replacement and DR nodes boot from (through `surge.imageParameter` and
 * `dr.imageParameter`).
 */
const imagesSchema = z.strictObject({
  /** Turn it off when your own pipeline bakes the images. @default true */
  bake: z._default(z.boolean(), true),
  /** How many baked images to keep in each region, the current one included; older ones are deregistered. @default 3 */
  retain: z._default(z.int().check(z.minimum(2), z.maximum(MAX_RETAINED_IMAGES)), 3),
  /** How long to wait for a baked image, and for its copy in the DR region, to become available. @default 1800 */
  bakeTimeoutSeconds: z._default(z.int().check(z.minimum(300), z.maximum(86_400)), DEFAULT_BAKE_TIMEOUT_SECONDS),
});

const clusterModelShape = z.strictObject({
  name: clusterNameSchema,
  region: regionSchema,
  topology: z.enum(['active-active', 'active-passive']),
  nodes: z.array(nodeSchema).check(z.minLength(2), z.maxLength(MAX_NODES_SINGLE_TARGET_GROUP)),
  traffic: trafficSchema,
  network: networkSchema,
  surge: surgeSchema,
  healthChecks: healthChecksSchema,
  commands: z._default(commandsSchema, {}),
  capacity: z._default(capacitySchema, { minHealthyPercent: 75, drainSeconds: 30 }),
  dr: z.optional(drSchema),
  database: z.optional(databaseSchema),
  /** @default - baking on when `surge.imageParameter` is set */
  images: z.optional(imagesSchema),
});

function arnRegion(arn: string): string | undefined {
  return arn.split(':')[3];
}

/** The rules no single field's schema can express. */
function checkCrossFieldRules(
  model: z.output<typeof clusterModelShape>,
  ctx: z.core.$RefinementCtx<z.output<typeof clusterModelShape>>,
) {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  const managers = model.nodes.filter((node) => node.role === 'manager').length;
  if (managers !== 1) issue(['nodes'], `must have exactly one node with role "manager" (found ${managers})`);

  const seenIds = new Set<string>();
  model.nodes.forEach((node, index) => {
    if (seenIds.has(node.instanceId)) issue(['nodes', index, 'instanceId'], `repeats ${node.instanceId}`);
    seenIds.add(node.instanceId);
  });

  if (model.topology === 'active-passive' && model.nodes.length !== 2) {
    issue(['nodes'], `must have exactly 2 nodes for an active-passive cluster (found ${model.nodes.length})`);
  }

  const arns: [string, string][] = [['listenerArn', model.traffic.listenerArn]];
  if (model.traffic.ruleArn) arns.push(['ruleArn', model.traffic.ruleArn]);
  for (const [field, arn] of arns) {
    if (arnRegion(arn) !== model.region) issue(['traffic', field], `is in ${arnRegion(arn)}, not ${model.region}`);
  }

  if (model.traffic.strategy === 'weighted-target-groups') {
    const traffic = model.traffic;
    const slotNames = traffic.slots.map((slot) => slot.name);
    slotNames.forEach((name, index) => {
      if (slotNames.indexOf(name) !== index) issue(['traffic', 'slots', index, 'name'], `repeats slot "${name}"`);
    });
    if (!slotNames.includes(traffic.surgeSlot)) {
      issue(['traffic', 'surgeSlot'], `names no slot in traffic.slots (${slotNames.join(', ')})`);
    }
    checkAdditionalListeners(traffic, model.region, issue);
    if (model.nodes.length > MAX_WEIGHTED_TARGET_GROUPS - 1) {
      issue(
        ['nodes'],
        `must have at most ${MAX_WEIGHTED_TARGET_GROUPS - 1} nodes with the weighted-target-groups strategy; use single-target-group`,
      );
    }
    const occupied = new Set<string>();
    model.nodes.forEach((node, index) => {
      if (node.slot === undefined) {
        issue(['nodes', index, 'slot'], 'is required with the weighted-target-groups strategy');
      } else if (!slotNames.includes(node.slot)) {
        issue(['nodes', index, 'slot'], `names no slot in traffic.slots (${slotNames.join(', ')})`);
      } else if (node.slot === traffic.surgeSlot) {
        issue(
          ['nodes', index, 'slot'],
          `is the surge slot "${traffic.surgeSlot}"; permanent nodes need their own slot`,
        );
      } else if (occupied.has(node.slot)) {
        issue(['nodes', index, 'slot'], `"${node.slot}" is already taken by another node`);
      }
      if (node.slot !== undefined) occupied.add(node.slot);
    });
  } else {
    model.nodes.forEach((node, index) => {
      if (node.slot !== undefined)
        issue(['nodes', index, 'slot'], 'is only used with the weighted-target-groups strategy');
    });
  }

  if (model.surge.imageId && model.surge.imageParameter) {
    issue(['surge', 'imageParameter'], 'cannot be combined with surge.imageId; give one of them');
  }
  if (model.images?.bake) {
    if (!model.surge.imageParameter) {
      issue(['images', 'bake'], 'needs surge.imageParameter, the parameter a baked image is published to');
    }
    if (model.dr && !model.dr.imageParameter) {
      issue(['images', 'bake'], 'needs dr.imageParameter, so the DR region boots from the baked image too');
    }
  }
  if (model.dr) {
    if (model.dr.region === model.region)
      issue(['dr', 'region'], `must differ from the cluster region ${model.region}`);
    if (arnRegion(model.dr.loadBalancerArn) !== model.dr.region) {
      issue(['dr', 'loadBalancerArn'], `is in ${arnRegion(model.dr.loadBalancerArn)}, not ${model.dr.region}`);
    }
    if (model.dr.imageId && model.dr.imageParameter) {
      issue(['dr', 'imageParameter'], 'cannot be combined with dr.imageId; give one of them');
    }
  }
}

/**
 * Every additional listener maps exactly the cluster's slots, and no listener or target group is named twice: a target
 * group shared between two slots or two listeners would make one shift's weights contradict another's.
 */
function checkAdditionalListeners(
  traffic: Extract<z.output<typeof trafficSchema>, { strategy: 'weighted-target-groups' }>,
  region: string,
  issue: (path: (string | number)[], message: string) => void,
): void {
  const slotNames = traffic.slots.map((slot) => slot.name);
  const listeners = new Map<string, string>([[traffic.listenerArn, 'traffic.listenerArn']]);
  const groups = new Map<string, string>(
    traffic.slots.map((slot, index) => [slot.targetGroupArn, `traffic.slots.${index}.targetGroupArn`]),
  );
  const names = new Set<string>();
  (traffic.additionalListeners ?? []).forEach((listener, index) => {
    const at = ['traffic', 'additionalListeners', index];
    if (names.has(listener.name)) issue([...at, 'name'], `repeats listener name "${listener.name}"`);
    names.add(listener.name);
    const sameListener = listeners.get(listener.listenerArn);
    if (sameListener) issue([...at, 'listenerArn'], `is already ${sameListener}`);
    listeners.set(listener.listenerArn, `traffic.additionalListeners.${index}.listenerArn`);
    for (const [field, arn] of [
      ['listenerArn', listener.listenerArn],
      ['ruleArn', listener.ruleArn],
    ] as const) {
      if (arn !== undefined && arnRegion(arn) !== region)
        issue([...at, field], `is in ${arnRegion(arn)}, not ${region}`);
    }
    const mapped = Object.keys(listener.targetGroups);
    const missing = slotNames.filter((slot) => !mapped.includes(slot));
    if (missing.length > 0) issue([...at, 'targetGroups'], `has no target group for slot ${missing.join(', ')}`);
    for (const slot of mapped) {
      if (!slotNames.includes(slot)) {
        issue([...at, 'targetGroups', slot], `names no slot in traffic.slots (${slotNames.join(', ')})`);
      }
      const arn = listener.targetGroups[slot] ?? '';
      const sameGroup = groups.get(arn);
      if (sameGroup) issue([...at, 'targetGroups', slot], `is already ${sameGroup}`);
      groups.set(arn, `traffic.additionalListeners.${index}.targetGroups.${slot}`);
    }
  });
}

export const clusterModelSchema = clusterModelShape.check(z.superRefine(checkCrossFieldRules));

/** The model as written by a user (defaults may be omitted). */
export type ClusterModelInput = z.input<typeof clusterModelSchema>;
/** The normalized model every workflow reads. */
export type ClusterModel = z.output<typeof clusterModelSchema>;
export type ClusterNode = ClusterModel['nodes'][number];
export type CommandSpec = NonNullable<ClusterModel['commands'][CommandKind]>;
/**
 * Whether a successful patch-server or upgrade-version bakes an image: on by default wherever there is an image
 * parameter to publish it to (and the DR region, when there is one, has its own).
 */
export function bakesImages(model: ClusterModel): boolean {
  if (model.images) return model.images.bake;
  return Boolean(model.surge.imageParameter) && (!model.dr || Boolean(model.dr.imageParameter));
}

export type HttpCheck = ClusterModel['healthChecks']['http'][number];

/** Whether the cluster's nodes can report their version: a version endpoint, or an HTTP check that reads it. */
export function reportsVersions(model: ClusterModel): boolean {
  return Boolean(model.healthChecks.version) || model.healthChecks.http.some((check) => check.expectVersion);
}

/**
 * Validates a cluster model and fills in defaults. Throws `ClusterModelError` naming every bad field.
 */
export function parseClusterModel(input: unknown, source = 'cluster model'): ClusterModel {
  const result = clusterModelSchema.safeParse(input, FIELD_ISSUE_PARSING);
  if (!result.success) {
    const name =
      typeof input === 'object' && input !== null && 'name' in input && typeof input.name === 'string'
        ? ` "${input.name}"`
        : '';
    throw new ClusterModelError(`Invalid ${source}${name}`, toFieldIssues(result.error), { cause: result.error });
  }
  return result.data;
}

/**
 * Every target group a node serves in: its slot's behind the cluster's listener first, then its slot's behind each
 * additional listener. A node is registered in all of them and healthy only when it is healthy in all of them.
 */
export function targetGroupsOf(model: ClusterModel, node: Pick<ClusterNode, 'slot'>): string[] {
  const primary = targetGroupOf(model, node);
  if (model.traffic.strategy === 'single-target-group') return [primary];
  const slot = node.slot ?? '';
  return [
    primary,
    ...(model.traffic.additionalListeners ?? []).flatMap((listener) => listener.targetGroups[slot] ?? []),
  ];
}

/** The target group a node serves in behind the cluster's listener, or the cluster's only target group. */
export function targetGroupOf(model: ClusterModel, node: Pick<ClusterNode, 'slot'>): string {
  if (model.traffic.strategy === 'single-target-group') return model.traffic.targetGroupArn;
  const slot = model.traffic.slots.find((candidate) => candidate.name === node.slot);
  if (!slot) throw new ClusterModelError('Invalid cluster model', [{ path: 'nodes', message: `no slot ${node.slot}` }]);
  return slot.targetGroupArn;
}

/** Standard-tier SSM parameters hold 4 KB; larger models need the advanced tier. */
export const STANDARD_PARAMETER_LIMIT_BYTES = 4096;

export function parameterTierFor(serializedModel: string): 'Standard' | 'Advanced' {
  return Buffer.byteLength(serializedModel, 'utf8') > STANDARD_PARAMETER_LIMIT_BYTES ? 'Advanced' : 'Standard';
}

/**
 * The document a command runs, pinned to its version. A node kit command has one once the cluster's stack has put
 * the kit's document in its place, which the stored model always has.
 */
export function commandDocument(kind: CommandKind, spec: CommandSpec): { name: string; version: string } {
  if (spec.documentName === undefined || spec.documentVersion === undefined) {
    throw new ClusterModelError(`Command ${kind} names no document`, [
      {
        path: `commands.${kind}`,
        message: spec.kit
          ? `uses the ${spec.kit} kit, whose document the cluster's stack puts in the stored model: deploy the stack`
          : 'must name a document and its version',
      },
    ]);
  }
  return { name: spec.documentName, version: spec.documentVersion };
}
