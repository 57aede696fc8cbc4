import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { describeInstances, isSurgeNodeOf, tagInstance } from '../aws/ec2';
import { deregisterIfRegistered, readWeights, registerTargets } from '../aws/elbv2';
import { saveMembership } from '../aws/ssm';
import { type ClusterModel, type ClusterNode, targetGroupsOf } from '../domain/cluster-model';
import { InputValidationError } from '../domain/errors';
import { type Membership, recordReplacement } from '../domain/membership';
import { CLUSTER_TAG_KEY, LOST_ROLE, ROLE_TAG_KEY, SLOT_TAG_KEY } from '../domain/tags';
import { requireWeighted, weightOf } from '../domain/weights';

export interface AdoptRequest {
  readonly slot: string;
  /** The node the alarm reported lost. */
  readonly lostInstanceId: string;
  /** The surge node the failover launched and verified. */
  readonly replacementId: string;
  readonly now?: Date;
}

export interface AdoptResult {
  readonly slot: string;
  readonly instanceId: string;
  readonly role: ClusterNode['role'];
  readonly replaced: string;
  /** False when a retry found the replacement already in place. */
  readonly changed: boolean;
  /**
   * False while the surge slot still has weight: a standby that took the lost node's traffic keeps serving through
   * the surge slot until the weights move to its own slot, and the adoption run again then leaves it.
   */
  readonly leftSurgeSlot: boolean;
}

/**
 * Makes the verified replacement (a node the failover launched, or the standby surge node) the permanent node of the
 * lost node's slot: it joins the slot's target group and leaves the surge slot's once that carries no traffic, takes
 * the lost node's role and slot tags (so no surge clean-up retires it), and the membership record names it, so every
 * later workflow (and the next failover) sees it as the slot's node. The lost node leaves the slot's target group and
 * is tagged `lost`, not terminated: it is evidence, and the operator decides. Each step is idempotent.
 */
export async function adoptReplacement(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ssm: SSMClient },
  state: { model: ClusterModel; membership: Membership },
  request: AdoptRequest,
): Promise<AdoptResult> {
  const { model } = state;
  requireWeighted(model);
  const member = model.nodes.find((node) => node.slot === request.slot);
  if (!member) {
    throw new InputValidationError('Invalid adoption', [
      { path: 'slot', message: `names no permanent node of cluster "${model.name}"` },
    ]);
  }
  const alreadyAdopted = member.instanceId === request.replacementId;
  if (!alreadyAdopted && member.instanceId !== request.lostInstanceId) {
    throw new InputValidationError('Invalid adoption', [
      {
        path: 'lostInstanceId',
        message: `is ${request.lostInstanceId}, but slot "${request.slot}" is held by ${member.instanceId} now`,
      },
    ]);
  }
  const [replacement] = await describeInstances(clients.ec2, [request.replacementId]);
  const ownTagged = replacement?.tags[CLUSTER_TAG_KEY] === model.name;
  if (!replacement || !ownTagged || (!alreadyAdopted && !isSurgeNodeOf(model, replacement))) {
    throw new InputValidationError('Invalid adoption', [
      { path: 'replacementId', message: `is not a surge node of cluster "${model.name}"` },
    ]);
  }

  const slotGroups = targetGroupsOf(model, member);
  const surgeGroups = targetGroupsOf(model, { slot: model.traffic.surgeSlot });
  await registerTargets(clients.elbv2, slotGroups, [request.replacementId]);
  const surgeServes = weightOf(await readWeights(clients.elbv2, model), model.traffic.surgeSlot) > 0;
  if (!surgeServes) await deregisterIfRegistered(clients.elbv2, surgeGroups, request.replacementId);
  await deregisterIfRegistered(clients.elbv2, slotGroups, request.lostInstanceId);
  await tagInstance(clients.ec2, request.replacementId, {
    [ROLE_TAG_KEY]: member.role,
    [SLOT_TAG_KEY]: request.slot,
    Name: `${model.name}-${request.slot}`,
  });
  // The lost node is labelled, not terminated; one that is already gone needs no label.
  await tagInstance(clients.ec2, request.lostInstanceId, { [ROLE_TAG_KEY]: LOST_ROLE });
  const membership = recordReplacement(state.membership, {
    slot: request.slot,
    lost: request.lostInstanceId,
    replacement: request.replacementId,
    at: (request.now ?? new Date()).toISOString(),
  });
  if (membership !== state.membership) await saveMembership(clients.ssm, model.name, membership);
  return {
    slot: request.slot,
    instanceId: request.replacementId,
    role: member.role,
    replaced: request.lostInstanceId,
    changed: !alreadyAdopted,
    leftSurgeSlot: !surgeServes,
  };
}
