import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { isSurgeNodeOf, type NodeInstance, targetGroupsOfNode } from '../aws/ec2';
import { readTargetHealth } from '../aws/elbv2';
import { bodyText } from '../domain/checks/body-text';
import type { CheckResult, HttpCondition } from '../domain/checks/check';
import { expectedVersion } from '../domain/checks/expected-version';
import { statusCode } from '../domain/checks/status-code';
import type { ClusterModel, HttpCheck } from '../domain/cluster-model';
import { nodeUrl, parseVersion } from '../domain/probe';
import type { TargetState } from '../domain/weights';
import { httpGet } from '../net/http-probe';

export type { CheckResult } from '../domain/checks/check';

/** Evaluated in order; the first that fails explains the check's failure. */
export const HTTP_CONDITIONS: readonly HttpCondition[] = [statusCode, bodyText, expectedVersion];

export async function runHttpCheck(check: HttpCheck, host: string, version?: string): Promise<CheckResult> {
  const probe = await httpGet(nodeUrl(check.protocol, host, check.port, check.path), check.timeoutMs);
  const context = { check, probe, ...(version !== undefined ? { expectedVersion: version } : {}) };
  for (const condition of HTTP_CONDITIONS) {
    const failure = condition.evaluate(context);
    if (failure) return { check: check.name, passed: false, detail: failure };
  }
  return { check: check.name, passed: true, detail: `HTTP ${probe.status} in ${probe.elapsedMs} ms` };
}

/** How long the version endpoint may take to answer. */
const VERSION_TIMEOUT_MS = 2_000;

/** The name of the check that compares the version a node reports with the one the request named. */
export const VERSION_CHECK = 'reported version';

/** The version the node reports at the model's version endpoint, or null when there is none or it does not answer. */
export async function reportedVersion(model: ClusterModel, host: string): Promise<string | null> {
  const endpoint = model.healthChecks.version;
  if (!endpoint) return null;
  const probe = await httpGet(nodeUrl(endpoint.protocol, host, endpoint.port, endpoint.path), VERSION_TIMEOUT_MS);
  return probe.status === 200 ? (parseVersion(probe.body) ?? null) : null;
}

/** The node reports exactly the version the request named, at the model's version endpoint. */
export async function versionCheck(model: ClusterModel, host: string, expected: string): Promise<CheckResult> {
  return compareVersion(expected, await reportedVersion(model, host));
}

/** The version check's result for what a node reported (null: its version endpoint did not answer). */
export function compareVersion(expected: string, reported: string | null): CheckResult {
  if (reported === expected) return { check: VERSION_CHECK, passed: true, detail: `reports ${expected}` };
  return {
    check: VERSION_CHECK,
    passed: false,
    detail:
      reported === null
        ? `expected ${expected}, the version endpoint did not answer`
        : `expected ${expected}, reports ${reported}`,
  };
}

/** The node's target is healthy in the target group the load balancer routes it through. */
export function targetHealthCheck(instanceId: string, targets: readonly TargetState[] | undefined): CheckResult {
  const target = targets?.find((candidate) => candidate.instanceId === instanceId);
  if (!target) return { check: 'target health', passed: false, detail: 'not registered in its target group' };
  return {
    check: 'target health',
    passed: target.state === 'healthy',
    detail: target.reason ? `${target.state} (${target.reason})` : target.state,
  };
}

export interface NodeInspection {
  readonly instanceId: string;
  readonly privateIp?: string;
  readonly checks: CheckResult[];
  readonly passed: boolean;
}

export interface InspectRequest {
  readonly instanceId: string;
  /** The version the workflow rolls out; checks with `expectVersion` compare against it. */
  readonly expectedVersion?: string;
}

export async function targetCheck(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  node: NodeInstance,
): Promise<CheckResult | undefined> {
  if (!model.healthChecks.targetHealth) return undefined;
  const targetGroups = targetGroupsOfNode(model, node);
  if (targetGroups.length === 0)
    return { check: 'target health', passed: false, detail: 'belongs to no target group of the cluster' };
  const groupTargets = await Promise.all(targetGroups.map((arn) => readTargetHealth(elbv2, arn)));
  // A surge node in the single target group is registered only when traffic shifts to it.
  const registered = groupTargets[0]?.some((target) => target.instanceId === node.instanceId) ?? false;
  if (!registered && isSurgeNodeOf(model, node) && model.traffic.strategy === 'single-target-group') return undefined;
  // Behind several listeners, the node passes only when every one of its target groups finds it healthy.
  const results = groupTargets.map((targets) => targetHealthCheck(node.instanceId, targets));
  const failed = results.findIndex((result) => !result.passed);
  const result = results[Math.max(failed, 0)] as CheckResult;
  if (failed < 0 || results.length === 1) return result;
  return { ...result, detail: `${result.detail} in target group ${targetGroups[failed]}` };
}

export async function inspect(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  node: NodeInstance,
  expectedVersion: string | undefined,
): Promise<NodeInspection> {
  const host = node.privateIp;
  const httpChecks = host
    ? await Promise.all(model.healthChecks.http.map((check) => runHttpCheck(check, host, expectedVersion)))
    : model.healthChecks.http.map((check) => ({
        check: check.name,
        passed: false,
        detail: 'the node has no private IP',
      }));
  // A request that names a version is checked at the version endpoint too, where the model has one.
  const version =
    host && expectedVersion !== undefined && model.healthChecks.version
      ? await versionCheck(model, host, expectedVersion)
      : undefined;
  const target = await targetCheck(clients.elbv2, model, node);
  const checks = [...httpChecks, ...(version ? [version] : []), ...(target ? [target] : [])];
  return { instanceId: node.instanceId, privateIp: host, checks, passed: checks.every((check) => check.passed) };
}
