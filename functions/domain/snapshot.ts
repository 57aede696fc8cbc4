import type { ClusterModel } from './cluster-model';
import type { SlotWeight } from './weights';

export interface NodeSnapshot {
  readonly instanceId: string;
  readonly role: 'manager' | 'worker';
  readonly slot?: string;
  readonly targetGroupArn: string;
  readonly state: string;
  readonly privateIp?: string;
  /** The load balancer's view: healthy, unhealthy, draining, unused, ... or "unregistered". */
  readonly targetHealth: string;
  /** Healthy and behind a target group with weight above 0 (or registered, in the single target group). */
  readonly serving: boolean;
  /** What the node's version endpoint answered; null when it did not answer. */
  readonly version: string | null;
}

export interface ClusterSnapshot {
  readonly cluster: string;
  readonly takenAt: string;
  readonly strategy: ClusterModel['traffic']['strategy'];
  /** The weights rollback restores (weighted strategy; empty otherwise). */
  readonly weights: SlotWeight[];
  readonly nodes: NodeSnapshot[];
  /** The capacity guard's baseline. */
  readonly servingHealthyNodes: number;
  /** Surge nodes of this cluster that already exist, such as leftovers of an interrupted run. */
  readonly surgeNodes: { readonly instanceId: string; readonly state: string }[];
}

/** The one version all the given nodes report; null when there are none, one reports nothing, or they differ. */
export function commonVersion(versions: readonly (string | null | undefined)[]): string | null {
  const distinct = new Set(versions.map((version) => version ?? null));
  const [only] = distinct;
  return distinct.size === 1 ? (only ?? null) : null;
}

/**
 * The cluster's current version: the one every permanent node reports. A node added to the cluster (a surge,
 * replacement or DR node) must report it before it stands by or takes traffic, so a node booted from a stale image is
 * caught. Null when a node reports none, or the nodes disagree, as after an interrupted rollout: then there is no
 * single version to hold a new node to, and a rerun must be able to get its surge node from the image as it is.
 */
export function currentVersionOf(snapshot: ClusterSnapshot): string | null {
  return commonVersion(snapshot.nodes.map((node) => node.version));
}

/**
 * The version a node zerodown launches (a surge, replacement or DR node) must report: the cluster's, where the node
 * boots from an image parameter, which the bake (or the operator's own pipeline) keeps in step with the cluster. A
 * fixed image id stays on the version it was built with, so holding its nodes to the cluster's version would refuse
 * every rollout after the first: then nothing is compared (null).
 */
export function launchedNodeVersion(currentVersion: string | null, imageParameter: string | undefined): string | null {
  return imageParameter ? currentVersion : null;
}
