import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { type CheckResult, runHttpCheck, targetHealthCheck } from './checks';
import type { ClusterModel } from './cluster-model';
import { HealthCheckFailedError } from './errors';
import { describeLiveNode, isSurgeNodeOf, type NodeInstance, targetGroupOfNode } from './nodes';
import { readTargetHealth } from './traffic';

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

async function targetCheck(
  elbv2: ElasticLoadBalancingV2Client,
  model: ClusterModel,
  node: NodeInstance,
): Promise<CheckResult | undefined> {
  if (!model.healthChecks.targetHealth) return undefined;
  const targetGroupArn = targetGroupOfNode(model, node);
  if (!targetGroupArn)
    return { check: 'target health', passed: false, detail: 'belongs to no target group of the cluster' };
  const targets = await readTargetHealth(elbv2, targetGroupArn);
  // A surge node in the single target group is registered only when traffic shifts to it.
  const registered = targets.some((target) => target.instanceId === node.instanceId);
  if (!registered && isSurgeNodeOf(model, node) && model.traffic.strategy === 'single-target-group') return undefined;
  return targetHealthCheck(node.instanceId, targets);
}

async function inspect(
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
  const target = await targetCheck(clients.elbv2, model, node);
  const checks = target ? [...httpChecks, target] : httpChecks;
  return { instanceId: node.instanceId, privateIp: host, checks, passed: checks.every((check) => check.passed) };
}

/**
 * Runs every health check of the cluster against the node: the HTTP checks on its private IP, then the load
 * balancer's view of its target. Fails with `HealthCheckFailedError` naming the first failing check.
 */
export async function verifyNode(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  model: ClusterModel,
  request: InspectRequest,
): Promise<NodeInspection> {
  const node = await describeLiveNode(clients.ec2, request.instanceId);
  const inspection = await inspect(clients, model, node, request.expectedVersion);
  if (!inspection.passed) {
    const failed = inspection.checks.filter((check) => !check.passed);
    throw new HealthCheckFailedError(
      `Node ${request.instanceId} failed ${failed.map((check) => `"${check.check}": ${check.detail}`).join('; ')}`,
    );
  }
  return inspection;
}

export interface Readiness extends NodeInspection {
  readonly ready: boolean;
  readonly instanceState: string;
  readonly ssmAgent: string;
  /** What the node is still waiting for, when it is not ready. */
  readonly waitingFor?: string;
}

async function ssmPingStatus(ssm: SSMClient, instanceId: string): Promise<string> {
  const response = await ssm.send(
    new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
  );
  return response.InstanceInformationList?.[0]?.PingStatus ?? 'NotRegistered';
}

/**
 * One poll of a node that is coming up: running, its SSM agent online, its target healthy, its HTTP checks passing.
 * Not being ready yet is an answer, not an error; the workflow's Wait/Choice loop owns the deadline. A node that is
 * gone fails with `NodeLostError`, since waiting longer cannot help.
 */
export async function checkNodeReady(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient },
  model: ClusterModel,
  request: InspectRequest,
): Promise<Readiness> {
  const node = await describeLiveNode(clients.ec2, request.instanceId);
  const notYet = (waitingFor: string, ssmAgent = 'Unknown'): Readiness => ({
    instanceId: node.instanceId,
    privateIp: node.privateIp,
    checks: [],
    passed: false,
    ready: false,
    instanceState: node.state,
    ssmAgent,
    waitingFor,
  });
  if (node.state !== 'running') return notYet(`the instance to run (it is ${node.state})`);
  const ssmAgent = await ssmPingStatus(clients.ssm, node.instanceId);
  if (ssmAgent !== 'Online') return notYet(`the SSM agent to come online (it is ${ssmAgent})`, ssmAgent);
  const inspection = await inspect(clients, model, node, request.expectedVersion);
  const failing = inspection.checks.find((check) => !check.passed);
  return {
    ...inspection,
    ready: inspection.passed,
    instanceState: node.state,
    ssmAgent,
    ...(failing ? { waitingFor: `"${failing.check}" (${failing.detail})` } : {}),
  };
}
