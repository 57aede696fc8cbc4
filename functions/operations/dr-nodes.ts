import type { EC2Client, Instance } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { findInstances, launchInstances, tagInstance, tagsOnLaunch, terminateInstances } from '../aws/ec2';
import {
  deregisterTargets,
  readClusterTargetHealth,
  readTargetHealth,
  readWeights,
  registerTargets,
} from '../aws/elbv2';
import { imageIdFor, loadVersionRecord } from '../aws/ssm';
import type { ClusterModel } from '../domain/cluster-model';
import { drSiteOf, secondsBetween } from '../domain/dr-site';
import { DrSiteInUseError, VersionMismatchError } from '../domain/errors';
import { clientTokenFor } from '../domain/launch';
import { CLUSTER_TAG_KEY, DR_ROLE, EXECUTION_TAG_KEY, ROLE_TAG_KEY } from '../domain/tags';
import { type VersionRecord, versionRecordParameterName } from '../domain/version-record';
import { isWeighted } from '../domain/weights';
import { type CheckResult, compareVersion, reportedVersion, runHttpCheck, targetHealthCheck } from './node-checks';

export interface DrClients {
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ssm: SSMClient;
}

export interface DrNode {
  readonly instanceId: string;
  readonly state: string;
  readonly privateIp?: string;
}

export interface DrNodeStatus extends DrNode {
  readonly checks: CheckResult[];
  readonly passed: boolean;
}

export interface DrStatus {
  readonly nodes: DrNodeStatus[];
  /** Every wanted node is running and passes every check. */
  readonly ready: boolean;
  readonly waitingFor?: string;
  readonly checkedAt: string;
  /** Seconds from `since` (the execution's start) to this check, when given. */
  readonly elapsedSeconds?: number;
  /** The version every DR node must report, as recorded in the DR region; null when nothing is compared. */
  readonly expectedVersion: string | null;
  /** What the version was compared with, or why it was not compared. */
  readonly versionCheck: string;
}

const LIVE_STATES = ['pending', 'running'];

/** The DR nodes of the cluster (of one execution, when given) that are not on their way out. */
export async function findDrNodes(ec2: EC2Client, model: ClusterModel, execution?: string): Promise<DrNode[]> {
  const filters = [
    { Name: `tag:${CLUSTER_TAG_KEY}`, Values: [model.name] },
    { Name: `tag:${ROLE_TAG_KEY}`, Values: [DR_ROLE] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ];
  if (execution) filters.push({ Name: `tag:${EXECUTION_TAG_KEY}`, Values: [execution.slice(0, 256)] });
  return (await findInstances(ec2, filters)).map(toDrNode);
}

function toDrNode(instance: Instance): DrNode {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
  };
}

/**
 * Starts the cold standby: `dr.nodeCount` nodes from the DR launch template and AMI, spread over the DR subnets,
 * tagged with the cluster, the `dr` role and the execution, and registered in the DR target group. The DR nodes the
 * cluster already runs count (a retry, or a second failover), so only the missing ones are launched; a drill, which
 * tears its nodes down at the end, asks for an idle DR site and is refused with `DrSiteInUseError` otherwise.
 *
 * A failover takes over the nodes another execution started (a drill it pre-empted): they are re-tagged as its own,
 * so the drill's tear-down, which removes only its own nodes, can no longer remove the nodes DNS is about to name.
 */
export async function launchDrNodes(
  clients: DrClients,
  model: ClusterModel,
  request: { execution: string; exclusive?: boolean },
): Promise<DrNode[]> {
  const { execution } = request;
  const site = drSiteOf(model);
  const existing = await findDrNodes(clients.ec2, model);
  const own = new Set((await findDrNodes(clients.ec2, model, execution)).map((node) => node.instanceId));
  const others = existing.filter((node) => !own.has(node.instanceId));
  if (request.exclusive && others.length > 0) {
    throw new DrSiteInUseError(
      `The DR site of "${model.name}" already runs ${existing.length} node(s) of another execution; a drill needs it idle`,
    );
  }
  const launched: DrNode[] = [];
  if (existing.length < site.nodeCount) {
    const imageId = await imageIdFor(clients.ssm, site);
    const tags = [
      { Key: CLUSTER_TAG_KEY, Value: model.name },
      { Key: ROLE_TAG_KEY, Value: DR_ROLE },
      { Key: EXECUTION_TAG_KEY, Value: execution.slice(0, 256) },
      { Key: 'Name', Value: `${model.name}-dr` },
    ];
    for (let index = existing.length; index < site.nodeCount; index++) {
      const [instance] = await launchInstances(clients.ec2, {
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: site.launchTemplateId, Version: site.launchTemplateVersion },
        ...(imageId ? { ImageId: imageId } : {}),
        SubnetId: site.subnetIds[index % site.subnetIds.length],
        // One token per node of an execution: a retried launch of node 2 can never start a third node.
        ClientToken: clientTokenFor(`${execution}#dr#${index}`),
        TagSpecifications: tagsOnLaunch(tags),
      });
      if (instance) launched.push(toDrNode(instance));
    }
  }
  if (!request.exclusive) {
    for (const node of others) {
      await tagInstance(clients.ec2, node.instanceId, { [EXECUTION_TAG_KEY]: execution.slice(0, 256) });
    }
  }
  const nodes = [...existing, ...launched];
  await registerTargets(
    clients.elbv2,
    site.targetGroupArn,
    nodes.map((node) => node.instanceId),
  );
  return nodes;
}

/** What the DR nodes' versions are compared with: the recorded version, or why there is none to compare. */
interface ExpectedVersion {
  readonly record?: VersionRecord;
  readonly note: string;
}

/**
 * The version record in the DR region (the DR clients' region): during a regional outage the primary region cannot
 * be asked what the cluster runs, so a rollout records it there beforehand.
 */
async function expectedVersionOf(
  ssm: SSMClient,
  model: ClusterModel,
  ignoreVersion: boolean,
): Promise<ExpectedVersion> {
  if (ignoreVersion) return { note: 'not compared: the request asked to ignore the version (ignoreVersion)' };
  if (!model.healthChecks.version) {
    return { note: 'not compared: the cluster model names no version endpoint (healthChecks.version)' };
  }
  // A fixed image stays on the version it was built with: see launchedNodeVersion.
  if (!model.dr?.imageParameter) {
    return { note: 'not compared: the DR nodes boot the fixed image dr.imageId, not an image parameter kept in step' };
  }
  const record = await loadVersionRecord(ssm, model.name);
  if (!record) {
    return {
      note: `not compared: no version is recorded in ${versionRecordParameterName(model.name)} in ${drSiteOf(model).region}`,
    };
  }
  return {
    record,
    note: `every DR node must report ${record.version}, recorded at ${record.recordedAt} by ${record.execution}`,
  };
}

/**
 * One poll of the DR nodes: running, their target in the DR target group healthy, the cluster's HTTP checks passing
 * on their private IPs and, where a version is recorded in the DR region, that version reported. Not being ready is
 * an answer (a node still booting reports no version yet); the workflow's loop owns the deadline. A node that reports
 * another version runs a stale DR image and fails the poll with `VersionMismatchError`, before DNS can name it.
 */
export async function drStatus(
  clients: DrClients,
  model: ClusterModel,
  request: { execution?: string; since?: string; now?: Date; ignoreVersion?: boolean },
): Promise<DrStatus> {
  const site = drSiteOf(model);
  const [nodes, targets, expected] = await Promise.all([
    findDrNodes(clients.ec2, model, request.execution),
    readTargetHealth(clients.elbv2, site.targetGroupArn),
    expectedVersionOf(clients.ssm, model, request.ignoreVersion ?? false),
  ]);
  const wanted = expected.record?.version;
  const probed = await Promise.all(
    nodes.map(async (node): Promise<{ status: DrNodeStatus; reported?: string | null }> => {
      if (node.state !== 'running' || !node.privateIp) {
        const checks = [{ check: 'instance', passed: false, detail: `is ${node.state}` }];
        return { status: { ...node, checks, passed: false } };
      }
      const host = node.privateIp;
      const [httpChecks, reported] = await Promise.all([
        Promise.all(model.healthChecks.http.map((check) => runHttpCheck(check, host, undefined))),
        wanted === undefined ? undefined : reportedVersion(model, host),
      ]);
      const version = wanted === undefined || reported === undefined ? [] : [compareVersion(wanted, reported)];
      const checks = [...httpChecks, ...version, targetHealthCheck(node.instanceId, targets)];
      return { status: { ...node, checks, passed: checks.every((check) => check.passed) }, reported };
    }),
  );
  if (expected.record) {
    const stale = probed.flatMap(({ status, reported }) =>
      typeof reported === 'string' && reported !== wanted ? [{ instanceId: status.instanceId, version: reported }] : [],
    );
    if (stale.length > 0) throw new VersionMismatchError(staleDrNodesMessage(model, expected.record, stale));
  }
  const statuses = probed.map(({ status }) => status);
  const now = request.now ?? new Date();
  const failing = statuses.flatMap((status) =>
    status.checks
      .filter((check) => !check.passed)
      .map((check) => `${status.instanceId} "${check.check}" (${check.detail})`),
  );
  const missing = site.nodeCount - statuses.length;
  const waitingFor =
    missing > 0 ? `${missing} more DR node(s) to be launched` : failing.length > 0 ? failing.join('; ') : undefined;
  return {
    nodes: statuses,
    ready: waitingFor === undefined,
    ...(waitingFor ? { waitingFor } : {}),
    checkedAt: now.toISOString(),
    ...(request.since ? { elapsedSeconds: secondsBetween(request.since, now) } : {}),
    expectedVersion: wanted ?? null,
    versionCheck: expected.note,
  };
}

/**
 * Names each DR node that runs another version, the recorded one, and the operator's two ways on. The record may be
 * the stale one: only a successful patch-server or upgrade-version writes it, and a rollout that could not read every
 * node's version writes nothing, so the message says how to check it before the DR image is changed to match it.
 */
function staleDrNodesMessage(
  model: ClusterModel,
  record: VersionRecord,
  stale: readonly { instanceId: string; version: string }[],
): string {
  const nodes = stale.map((node) => `${node.instanceId} runs ${node.version}`).join(', ');
  const versions = [...new Set(stale.map((node) => node.version))].join(' and ');
  return (
    `DR node(s) of "${model.name}" run another version than the cluster: ${nodes}, but ${record.version} was ` +
    `recorded at ${record.recordedAt} by ${record.execution}. Either the DR image is stale or the record is: only a ` +
    "successful patch-server or upgrade-version writes it, and a rollout that could not read every node's version " +
    `records nothing, so the record may predate the last rollout. Check the record first (the parameter ` +
    `${versionRecordParameterName(model.name)} in ${drSiteOf(model).region}, and whether a rollout ran after the ` +
    `execution it names), so as not to downgrade the DR image by mistake. If it is right, point ` +
    `dr.imageParameter at an image of ${record.version} and start the region failover again; otherwise, or to fail ` +
    `over to ${versions} anyway, start it again with "ignoreVersion": true.`
  );
}

export interface TeardownResult {
  readonly instanceIds: string[];
  /** Every DR node is terminated (or gone). */
  readonly gone: boolean;
}

/**
 * Takes the DR nodes (of one execution, or all of the cluster's) out of the DR target group and terminates them.
 * Only instances tagged with this cluster and the `dr` role are touched; a repeat finds nothing left to do.
 */
export async function tearDownDrNodes(
  clients: DrClients,
  model: ClusterModel,
  request: { execution?: string },
): Promise<TeardownResult> {
  const site = drSiteOf(model);
  const nodes = await findDrNodes(clients.ec2, model, request.execution);
  if (nodes.length === 0) return { instanceIds: [], gone: true };
  const ids = nodes.map((node) => node.instanceId);
  await deregisterTargets(clients.elbv2, site.targetGroupArn, ids);
  await terminateInstances(clients.ec2, ids);
  return { instanceIds: ids, gone: false };
}

export interface PrimaryStatus {
  /** Every weighted slot of the primary cluster has a healthy target, and one at least has weight. */
  readonly serving: boolean;
  readonly detail: string;
}

/** Whether the primary cluster can take its traffic back: read from its own load balancer, in its own region. */
export async function primaryStatus(elbv2: ElasticLoadBalancingV2Client, model: ClusterModel): Promise<PrimaryStatus> {
  if (model.traffic.strategy === 'single-target-group') {
    const healthy = (await readTargetHealth(elbv2, model.traffic.targetGroupArn)).filter((t) => t.state === 'healthy');
    return { serving: healthy.length > 0, detail: `${healthy.length} healthy target(s)` };
  }
  if (!isWeighted(model)) throw new Error('unreachable');
  const [weights, health] = await Promise.all([readWeights(elbv2, model), readClusterTargetHealth(elbv2, model)]);
  const weighted = weights.filter((entry) => entry.weight > 0);
  const unhealthy = weighted.filter(
    (entry) => !(health.get(entry.targetGroupArn) ?? []).some((target) => target.state === 'healthy'),
  );
  const serving = weighted.length > 0 && unhealthy.length === 0;
  const detail = serving
    ? `slots ${weighted.map((entry) => entry.slot).join(', ')} serve with healthy targets`
    : weighted.length === 0
      ? 'no slot has weight'
      : `no healthy target in slot(s) ${unhealthy.map((entry) => entry.slot).join(', ')}`;
  return { serving, detail };
}
