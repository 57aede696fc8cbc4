import * as z from 'zod/mini';
import { type ClusterModel, clusterParameterName } from './cluster-model';
import { ClusterModelError } from './errors';
import { toFieldIssues } from './field-issues';

/**
 * Which instance holds each slot now. The model names the permanent nodes by instance id, as the operator deployed
 * them; a failover replaces a lost node with a new instance. CDK owns the model parameter and would put the old id
 * back on the next deploy, so the replacement is recorded beside it, in a parameter CDK never writes.
 *
 * An entry applies only while the model still names one of the instances it replaced. Once the operator writes the
 * new id into the model (or any other id), the model wins.
 */

export const membershipParameterName = (clusterName: string) => `${clusterParameterName(clusterName)}/membership`;

/** Where the stack records the name of the cluster's lock table, for the CLI's `status`. */
export const lockTableParameterName = (clusterName: string) => `${clusterParameterName(clusterName)}/lock-table`;

const membershipSchema = z.strictObject({
  slots: z.record(
    z.string(),
    z.strictObject({
      instanceId: z.string(),
      /** Every instance this slot's current one replaced, oldest first. */
      replaced: z.array(z.string()),
      since: z.string(),
    }),
  ),
});
export type Membership = z.output<typeof membershipSchema>;

export const EMPTY_MEMBERSHIP: Membership = { slots: {} };

export function parseMembership(document: unknown, parameterName: string): Membership {
  const result = membershipSchema.safeParse(document);
  if (!result.success) throw new ClusterModelError(parameterName, toFieldIssues(result.error));
  return result.data;
}

/** The model with each replaced permanent node's instance id swapped for its replacement's. */
export function applyMembership(model: ClusterModel, membership: Membership): ClusterModel {
  const nodes = model.nodes.map((node) => {
    const entry = node.slot === undefined ? undefined : membership.slots[node.slot];
    return entry?.replaced.includes(node.instanceId) ? { ...node, instanceId: entry.instanceId } : node;
  });
  return nodes.some((node, index) => node !== model.nodes[index]) ? { ...model, nodes } : model;
}

/** The membership after `replacement` took over `slot` from `lost`. Recording the same change again changes nothing. */
export function recordReplacement(
  membership: Membership,
  change: { slot: string; lost: string; replacement: string; at: string },
): Membership {
  const current = membership.slots[change.slot];
  if (current?.instanceId === change.replacement) return membership;
  const replaced = [...(current?.replaced ?? []), change.lost].filter((id, index, all) => all.indexOf(id) === index);
  return {
    slots: {
      ...membership.slots,
      [change.slot]: { instanceId: change.replacement, replaced: replaced.slice(-20), since: change.at },
    },
  };
}
