/** What every plan is made of: the nodes it names and the steps it predicts, each with its healthy capacity. */

export interface PlanNode {
  readonly instanceId: string;
  readonly slot: string;
  readonly role: 'manager' | 'worker';
}

export interface PlanStep {
  readonly step: string;
  /** What the step does to AWS, in a few words. */
  readonly action: string;
  readonly instanceId?: string;
  readonly weights?: Readonly<Record<string, number>>;
  /** Healthy nodes serving after the step (the surge node included). */
  readonly predictedServing: number;
  /** Who takes over if a node that serves is lost during the step: the traffic, and the lost node's slot. */
  readonly ifNodeLost?: string;
  /** From this step on, a failure rolls forward instead of back. */
  readonly pointOfNoReturn?: boolean;
}

/** Steps that share what a failover would do during them. */
export function duringSteps(steps: readonly PlanStep[], ifNodeLost: string): PlanStep[] {
  return steps.map((step) => ({ ...step, ifNodeLost }));
}

/**
 * A surge node a failover would not adopt. The failover adopts a standby only if it reports the version of the
 * permanent nodes left in service (confirm-node-loss); a rollout that names another version than the cluster's leaves
 * the surge node on the old one until it changes it too, if ever.
 */
export interface StaleSurge {
  /** The version the rollout installs, which the changed nodes report. */
  readonly version: string;
  /** What the surge node runs: the cluster's version before the rollout; null when nothing held it to one. */
  readonly surgeVersion: string | null;
  /**
   * `always`: whichever serving node is lost, the permanent nodes left in service all run `version`.
   * `if-only-changed-left`: only for some of them, as while a rotation has changed some nodes and not others.
   */
  readonly when: 'always' | 'if-only-changed-left';
}

/** Why a failover would launch a replacement rather than adopt the stale surge node. */
function staleReplacement(stale: StaleSurge): string {
  return stale.surgeVersion
    ? `a replacement is launched into its slot, since the surge node still runs ${stale.surgeVersion}, not ${stale.version}`
    : `a replacement is launched into its slot, unless the surge node reports ${stale.version} too`;
}

/**
 * Active/passive: what failover does if the serving node is lost while `idle` stands by (a permanent node that is
 * neither serving nor out of service), with or without a ready surge node, and with `staleSurge` when the surge node
 * runs another version than `idle` (with no node left in service, nothing holds it to a version).
 */
export function activePassiveTakeover(options: {
  serving: PlanNode;
  idle?: PlanNode;
  outOfService?: PlanNode;
  surgeReady: boolean;
  staleSurge?: StaleSurge;
}): string {
  const { serving, idle, outOfService, surgeReady } = options;
  const stale = idle ? options.staleSurge : undefined;
  const taker = idle
    ? `${idle.slot} takes its traffic`
    : surgeReady
      ? 'the surge node takes its traffic'
      : 'nothing can take its traffic';
  const slot = !surgeReady
    ? 'a replacement is launched into its slot'
    : stale
      ? staleReplacement(stale)
      : 'the surge node is adopted into its slot';
  const left = outOfService ? `; ${outOfService.slot} stays out of service until the failover has verified it` : '';
  return `If ${serving.slot} is lost: ${taker}, and ${slot}${left}`;
}

/**
 * Active/active: what failover does if a serving node is lost, by whether the surge node is ready and serves, and
 * whether it runs another version than the permanent nodes left in service (`staleSurge`).
 */
export function activeActiveTakeover(options: {
  surge: 'none' | 'ready' | 'serving';
  outOfService?: PlanNode;
  staleSurge?: StaleSurge;
}): string {
  const { surge, outOfService } = options;
  const stale = surge === 'none' ? undefined : options.staleSurge;
  const left = outOfService ? `; ${outOfService.slot} stays out of service until the failover has verified it` : '';
  if (stale?.when === 'always') {
    // A stale surge node takes no share of the lost node's traffic either: it keeps only its own.
    return `If a serving node is lost: the other permanent nodes take its traffic, and ${staleReplacement(stale)}${left}`;
  }
  const taker =
    surge === 'serving'
      ? 'the nodes still serving, the surge node included, take its traffic'
      : 'the other nodes take its traffic';
  const slot = surge === 'none' ? 'a replacement is launched into its slot' : 'the surge node is adopted into its slot';
  const surgeNode = stale?.surgeVersion
    ? `, the surge node, still on ${stale.surgeVersion},`
    : ' and the surge node does not, it';
  const unless = stale
    ? `; but if the permanent nodes left in service all run ${stale.version}${surgeNode} ` +
      `${surge === 'serving' ? 'takes none of its traffic' : 'is not adopted'} and a replacement is launched into its slot`
    : '';
  return `If a serving node is lost: ${taker}, and ${slot}${unless}${left}`;
}

/**
 * Why a deploy or a hotfix changes the manager when it does, in plain words for the plan. The manager is the node
 * whose deployment file sync copies to the workers, so both workflows change it first. The runbook makes it the
 * passive node in active/passive, so that the change needs no traffic shift and never touches the node that serves.
 */
export function managerOrder(options: {
  readonly workflow: 'deploy-service' | 'update-service';
  readonly topology: 'active-passive' | 'active-active';
  readonly managerInstanceId: string;
  readonly managerServes: boolean;
}): string {
  const { workflow, topology, managerInstanceId: manager, managerServes } = options;
  const what = workflow === 'deploy-service' ? 'the artifact' : 'the hotfix';
  const then =
    workflow === 'deploy-service'
      ? 'file sync then carries it to the workers, and every node is smoke-tested before the service is exposed'
      : 'it takes the traffic only once it has passed its smoke test and checks, and the workers sync after that';
  if (!managerServes) {
    return `The manager ${manager} carries no traffic, so ${what} goes to it first with no shift; ${then}.`;
  }
  const shift =
    workflow === 'update-service' ? `, so it is taken out of service first and its share moved to the other nodes` : '';
  const advice =
    topology === 'active-passive'
      ? ' The runbook makes the passive node the manager, which would need no shift: consider giving it that role.'
      : '';
  return `The manager ${manager} serves traffic${shift}; ${what} goes to it first; ${then}.${advice}`;
}
