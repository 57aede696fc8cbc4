import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { describeInstances } from '../aws/ec2';
import type { ClusterModel } from '../domain/cluster-model';
import { type ClusterValues, MAX_RECONFIGURE_MEMBERS } from '../domain/cluster-values';
import { ConfigurationError, NodeLostError } from '../domain/errors';
import { type SentCommand, sendCommand } from './run-command';

export interface ReconfigureRequest {
  readonly idempotencyKey: string;
  readonly pollIntervalSeconds?: number;
}

export type ReconfigureResult =
  | { readonly skipped: true; readonly reason: string }
  | (SentCommand & { readonly skipped: false; readonly clusterValues: ClusterValues });

/**
 * The cluster's addresses as they are now: every permanent node's private IPv4 address in the model's order (the
 * membership record already put a replacement in its slot), and the manager's. A node that is gone or has no
 * address fails with `NodeLostError`: a member list without it would drop a member from the product's cluster.
 */
export async function clusterAddresses(ec2: EC2Client, model: ClusterModel): Promise<ClusterValues> {
  const ids = model.nodes.map((node) => node.instanceId);
  const found = new Map((await describeInstances(ec2, ids)).map((node) => [node.instanceId, node]));
  const addressOf = (instanceId: string): string => {
    const node = found.get(instanceId);
    if (!node?.privateIp || ['shutting-down', 'terminated'].includes(node.state)) {
      throw new NodeLostError(
        `Node ${instanceId} has no private address to reconfigure with (it is ${node?.state ?? 'gone'})`,
      );
    }
    return node.privateIp;
  };
  const manager = model.nodes.find((node) => node.role === 'manager');
  if (!manager) throw new NodeLostError(`Cluster ${model.name} has no manager node`);
  return { members: ids.map(addressOf).join(','), manager: addressOf(manager.instanceId) };
}

/**
 * Sends the cluster's `reconfigure` command to every permanent node with the members' and the manager's addresses,
 * or answers `skipped` when the model has none: a cluster whose product needs no member list loses nothing. The
 * values pass `sendCommand`'s guard like any other command's; the workflow polls the command as usual.
 */
export async function reconfigureCluster(
  clients: { ssm: SSMClient; ec2: EC2Client },
  model: ClusterModel,
  request: ReconfigureRequest,
): Promise<ReconfigureResult> {
  if (!model.commands.reconfigure) return { skipped: true, reason: 'the cluster model has no reconfigure command' };
  if (model.nodes.length > MAX_RECONFIGURE_MEMBERS) {
    // Synthesis refuses such a model (command-sources.ts); a hand-edited one fails here rather than drop members.
    throw new ConfigurationError(
      `reconfigure passes at most ${MAX_RECONFIGURE_MEMBERS} members, and cluster ${model.name} has ${model.nodes.length}`,
    );
  }
  const clusterValues = await clusterAddresses(clients.ec2, model);
  const sent = await sendCommand(clients.ssm, model, {
    kind: 'reconfigure',
    instanceIds: model.nodes.map((node) => node.instanceId),
    clusterValues,
    idempotencyKey: request.idempotencyKey,
    ...(request.pollIntervalSeconds === undefined ? {} : { pollIntervalSeconds: request.pollIntervalSeconds }),
  });
  return { ...sent, skipped: false, clusterValues };
}
