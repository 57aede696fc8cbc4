import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { describeLiveNode } from '../aws/ec2';
import { agentPingStatus } from '../aws/ssm';
import type { ClusterModel } from '../domain/cluster-model';
import { type InspectRequest, inspect, type NodeInspection, VERSION_CHECK } from './node-checks';

export interface Readiness extends NodeInspection {
  readonly ready: boolean;
  readonly instanceState: string;
  readonly ssmAgent: string;
  /** What the node is still waiting for, when it is not ready. */
  readonly waitingFor?: string;
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
  const ssmAgent = await agentPingStatus(clients.ssm, node.instanceId);
  if (ssmAgent !== 'Online') return notYet(`the SSM agent to come online (it is ${ssmAgent})`, ssmAgent);
  const inspection = await inspect(clients, model, node, request.expectedVersion);
  // A node that serves another version is ready, and wrong: the verify step after this one fails it at once with
  // VersionMismatchError, rather than this poll waiting out the ready timeout for a version that will not come.
  const failing = inspection.checks.find((check) => !check.passed && check.check !== VERSION_CHECK);
  return {
    ...inspection,
    ready: failing === undefined,
    instanceState: node.state,
    ssmAgent,
    ...(failing ? { waitingFor: `"${failing.check}" (${failing.detail})` } : {}),
  };
}
