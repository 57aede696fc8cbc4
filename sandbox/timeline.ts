import { FAILOVER_STATES } from '../statemachines/failover';
import type { TrafficResult } from './data-plane';
import type { ExecutionReport, SandboxReport } from './report';

/**
 * When a killed node died, when its alarm fired, when the load balancer stopped sending the node's target group
 * traffic (read from the data plane's record of the weights it applied), when failover began to launch a replacement,
 * and when it restored redundancy. Reported in scenario seconds since the load started, the time AWS would take: real
 * time divided by the time scale.
 */
export class FailoverTimeline {
  /** The last death, or the last fault that may make the nodes report each other lost. */
  lastDisturbanceAt: number | undefined;
  private death: { at: number; targetGroup: string | undefined } | undefined;
  private detectedAt: number | undefined;
  private detectedBy: 'alarm' | 'recheck' | 'peer' | undefined;
  /** The critical path of the first failover after the death, as the states it entered. */
  private confirmedAt: number | undefined;
  private lockedAt: number | undefined;
  private weightsWrittenAt: number | undefined;
  private replacementLaunchedAt: number | undefined;
  private redundancyRestoredAt: number | undefined;
  /** When a failover had a node serving in the lost slot, the steady weights restored; counted once it succeeds. */
  private slotFilledAt: number | undefined;

  died(at: number, targetGroup: string | undefined): void {
    this.lastDisturbanceAt = at;
    this.death ??= { at, targetGroup };
  }

  /** A fault that kills no node but may start failovers (a partition between the nodes). */
  disturbed(at: number): void {
    this.lastDisturbanceAt = at;
  }

  /**
   * A node alarm fired, the re-check found one still firing, or a peer started failover: the first time after a death
   * is its detection.
   */
  detected(at: number, by: 'alarm' | 'recheck' | 'peer'): void {
    if (this.death && at >= this.death.at && this.detectedAt === undefined) {
      this.detectedAt = at;
      this.detectedBy = by;
    }
  }

  /** A failover an alarm or a peer started entered a state: a step of the path to the traffic moved, or after it. */
  alarmWorkflowEntered(state: string): void {
    const now = Date.now();
    if (this.detectedAt !== undefined) {
      // Each step is over when the next is entered.
      if (state === FAILOVER_STATES.takeLock) this.confirmedAt ??= now;
      if (state === FAILOVER_STATES.workOutMove) this.lockedAt ??= now;
      if (state === FAILOVER_STATES.reportMove) this.weightsWrittenAt ??= now;
    }
    if (state === FAILOVER_STATES.launchReplacement) this.replacementLaunchedAt ??= now;
    if (state === FAILOVER_STATES.leaveSurgeSlot || state === FAILOVER_STATES.steadyWeightsTakeEffect) {
      this.slotFilledAt ??= now;
    }
  }

  /** A workflow an alarm started ended. A failover that found the node under maintenance restored nothing. */
  alarmWorkflowEnded(report: ExecutionReport): void {
    const replaced = report.states.some((state) => state.name === FAILOVER_STATES.adoptReplacement);
    // The clean-up after (leftover surge nodes, a node a pre-empted workflow left out of service) is not counted.
    if (report.status === 'SUCCEEDED' && replaced) this.redundancyRestoredAt ??= this.slotFilledAt ?? Date.now();
  }

  report(options: {
    detectionFloorSeconds: number;
    timeScale: number;
    traffic: TrafficResult;
  }): SandboxReport['failover'] {
    const { death } = this;
    if (!death) return undefined;
    const { traffic, timeScale } = options;
    const seconds = (at: number | undefined) =>
      at === undefined ? null : Math.round(((at - traffic.loadStartedAt) / 1000 / timeScale) * 100) / 100;
    const weightAt = (change: TrafficResult['weightChanges'][number] | undefined) =>
      new Map(change?.weights ?? []).get(death.targetGroup ?? '') ?? 0;
    const atDeath = traffic.weightChanges.filter((change) => change.at <= death.at).at(-1);
    // A node that carried no traffic leaves nothing to restore.
    const trafficRestoredAtMs =
      weightAt(atDeath) > 0
        ? traffic.weightChanges.find((change) => change.at > death.at && weightAt(change) === 0)?.at
        : death.at;
    const diedAt = seconds(death.at) ?? 0;
    const trafficRestoredAt = seconds(trafficRestoredAtMs);
    const detectedAt = seconds(this.detectedAt);
    const windowEnd = trafficRestoredAtMs ?? Number.POSITIVE_INFINITY;
    const failed = traffic.records.filter((record) => record.status < 200 || record.status >= 500);
    // A request belongs to the window if it ended after the death and was sent before the traffic moved.
    const outside = failed.filter((record) => {
      const sent = traffic.loadStartedAt + record.at;
      return sent + record.latencyMs < death.at || sent > windowEnd;
    });
    const confirmedAt = seconds(this.confirmedAt);
    const lockedAt = seconds(this.lockedAt);
    const weightsWrittenAt = seconds(this.weightsWrittenAt);
    const between = (from: number | null, to: number | null) =>
      from === null || to === null ? null : Math.round((to - from) * 100) / 100;
    return {
      diedAt,
      detectedAt,
      detectedBy: this.detectedBy ?? null,
      confirmedAt,
      lockedAt,
      weightsWrittenAt,
      trafficRestoredAt,
      rtoSplit: {
        detection: between(diedAt, detectedAt),
        confirmation: between(detectedAt, confirmedAt),
        lock: between(confirmedAt, lockedAt),
        weightWrite: between(lockedAt, weightsWrittenAt),
        propagation: between(weightsWrittenAt, trafficRestoredAt),
      },
      replacementLaunchedAt: seconds(this.replacementLaunchedAt),
      redundancyRestoredAt: seconds(this.redundancyRestoredAt),
      detectionFloorSeconds: options.detectionFloorSeconds,
      detectionSeconds: detectedAt === null ? null : Math.round((detectedAt - diedAt) * 100) / 100,
      orchestrationSeconds: between(detectedAt, weightsWrittenAt ?? trafficRestoredAt),
      rtoSeconds: trafficRestoredAt === null ? null : Math.round((trafficRestoredAt - diedAt) * 100) / 100,
      failedRequests: failed.length,
      failedInWindow: failed.length - outside.length,
      failedOutsideWindow: outside.length,
      firstFailedOutsideWindow: outside.slice(0, 5),
    };
  }
}
