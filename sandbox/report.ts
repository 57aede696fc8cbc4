import { FAILOVER_STATES } from '../statemachines/failover';
import type { NodeState, TrafficResult } from './data-plane';
import type { FailureCause } from './failure-causes';
import { isFailedStatus, type RequestRecord, summarize } from './load';
import type { RunEvent } from './run-context';
import type { Scenario } from './scenario';

/** The report of a sandbox run: the stable interface other tools read (see docs/sandbox.md). */

export interface ExecutionReport {
  readonly workflow: string;
  /**
   * What started it: a scenario step, a node alarm's rule, a node's peer watch (failover), the rule on another
   * execution's end, the re-check of alarms that stay in ALARM, or a call to the sandbox's Step Functions API.
   */
  readonly trigger: 'scenario' | 'alarm' | 'peer' | 'rule' | 'recheck' | 'api';
  /** The execution's input, as it was started with. */
  readonly input: Readonly<Record<string, unknown>>;
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly stateTransitions: number;
  /** For region-failover: from the start to DNS moved (a drill: to the DR site verified), in scenario seconds. */
  readonly rtoSeconds?: number;
  /** Real seconds from start to end, split into time in Wait states and the rest. */
  readonly durationSeconds: number;
  readonly waitingSeconds: number;
  readonly orchestrationSeconds: number;
  /**
   * Each state entered, with milliseconds since the run started, its type (Task, Wait, Choice, ...), how many times
   * it was retried, and whether a caught failure came before it (it is on the failure path: a rollback or a report).
   */
  readonly states: readonly { name: string; at: number; type: string; retries: number; afterFailure: boolean }[];
}

/**
 * The run over time. `at` is in scenario seconds since the load started, as in `weights` and `failover`; the
 * executions' states count real milliseconds since the run started, and `loadStartedAtMs` relates the two.
 */
export interface RunTimeline {
  /** When the load started, in real milliseconds since the run started. */
  readonly loadStartedAtMs: number;
  /** Requests by the node that answered them and failed requests, per real second of the load (`at`: its start). */
  readonly traffic: { at: number; byNode: Record<string, number>; failed: number }[];
  /** Each node's state as the load balancer saw it, by instance id, each change in order. */
  readonly nodes: Record<string, { at: number; state: NodeState }[]>;
  /** The faults that struck (with the node each struck) and the alarms that changed. */
  readonly events: { at: number; kind: RunEvent['kind']; label: string; instanceId?: string }[];
  /** The commands run on each node, from their request to their end (none while still running at the end). */
  readonly commands: { instanceId: string; document: string; from: number; to: number | null }[];
}

export interface Expectation {
  readonly what: string;
  readonly expected: unknown;
  readonly actual: unknown;
  readonly holds: boolean;
}

export interface SandboxReport {
  readonly scenario: string;
  readonly executions: readonly ExecutionReport[];
  readonly requests: {
    total: number;
    ok: number;
    failed: number;
    /** Failed requests by cause: what the load balancer or the client saw (see failure-causes.ts). */
    failedByCause: Partial<Record<FailureCause, number>>;
    /**
     * Failed requests that a busy machine explains rather than the cluster: a node, or the sandbox, too slow to
     * answer in time. Counted in `failed` too.
     */
    failedUnderLoad: number;
    byStatus: Record<string, number>;
    /** The first failed requests: when (ms after the load started), status (0 without one), error, node. */
    failures: RequestRecord[];
  };
  readonly requestsByNode: Record<string, number>;
  /**
   * The listener's weights by slot each time the load balancer began to use new ones: `at` in scenario seconds since
   * the load started (the first entry is the weights the load started with).
   */
  readonly weights: readonly { at: number; weights: Record<string, number> }[];
  /** How long the load balancers took to use a weight change (the scenario's), in scenario seconds. */
  readonly loadBalancerPropagationSeconds: number;
  /** The run over time, for the HTML report: see `RunTimeline`. */
  readonly timeline: RunTimeline;
  /**
   * Present when a node was killed. Times are scenario seconds since the load started. The window runs from the
   * death to the moment the load balancer stopped sending the node traffic; failures outside it are not the loss's.
   */
  readonly failover?: {
    diedAt: number;
    detectedAt: number | null;
    /** What started the failover that acted: a peer's watch, the node's alarm, or the alarm's re-check. */
    detectedBy: 'alarm' | 'recheck' | 'peer' | null;
    /** The failover confirmed the loss (entered "Take over the cluster lock"). */
    confirmedAt: number | null;
    /** It held the lock (entered "Work out the move under the lock"). */
    lockedAt: number | null;
    /** ModifyListener with the new weights returned (entered "Report the traffic move"). */
    weightsWrittenAt: number | null;
    /** When the load balancer began to use the new weights: written, then propagated. */
    trafficRestoredAt: number | null;
    /** The RTO, step by step, in scenario seconds: each from the end of the one before. */
    rtoSplit: {
      detection: number | null;
      confirmation: number | null;
      lock: number | null;
      weightWrite: number | null;
      propagation: number | null;
    };
    /** When failover began to launch the replacement node. */
    replacementLaunchedAt: number | null;
    redundancyRestoredAt: number | null;
    /** The best the alarms allow: period × datapoints to alarm. */
    detectionFloorSeconds: number;
    detectionSeconds: number | null;
    /** From the detection to the weights written: the failover's own time. */
    orchestrationSeconds: number | null;
    rtoSeconds: number | null;
    failedRequests: number;
    /** Failed requests sent between the death and the traffic moved: the loss's cost. */
    failedInWindow: number;
    failedOutsideWindow: number;
    firstFailedOutsideWindow: RequestRecord[];
  };
  /** Share of requests that succeeded, 0 to 1. */
  readonly availability: number;
  /** The fewest healthy serving nodes seen, as a share of those serving at the start. */
  readonly minHealthyCapacityPercent: number;
  readonly finalState: {
    nodes: {
      id: string;
      role: string;
      version: string | null;
      /** `service artifact` for each service deployed on the node. */
      services: string[];
      weight: number;
      healthy: boolean;
    }[];
    /** The shared database's schema version, which migrations set. */
    schemaVersion: string | null;
    /**
     * The database the model names, and the snapshots of it the run took (manual snapshots, read from moto, oldest
     * first): what to restore from after a failure past the migrations. Null when the model names no database.
     */
    database: {
      engine: string;
      identifier: string;
      snapshots: { id: string; status: string; createdAt: string | null }[];
    } | null;
    lockHeld: boolean;
    surgeNodes: number;
  };
  readonly awsCalls: Record<string, number>;
  readonly stateTransitions: number;
  readonly durationSeconds: number;
  readonly timeScale: number;
  readonly expectations: readonly Expectation[];
}

/** The report of a run from what it recorded, with the scenario's expectations checked against it. */
export function buildReport(run: {
  readonly scenario: Scenario;
  /** Date.now() when the run started. */
  readonly started: number;
  readonly executions: ExecutionReport[];
  readonly traffic: TrafficResult;
  /** The slot of each of the primary's target groups, by ARN. */
  readonly slotOf: ReadonlyMap<string, string>;
  readonly failover: SandboxReport['failover'];
  readonly finalState: SandboxReport['finalState'];
  readonly awsCalls: ReadonlyMap<string, number>;
  readonly events: readonly RunEvent[];
  readonly commands: readonly { instanceId: string; documentName: string; from: number; to?: number }[];
}): SandboxReport {
  const { scenario, traffic, slotOf } = run;
  const requests = summarize(traffic.records);
  const report: SandboxReport = {
    scenario: scenario.name,
    executions: run.executions,
    requests: {
      total: requests.total,
      ok: requests.ok,
      failed: requests.failed,
      failedByCause: requests.failedByCause,
      failedUnderLoad: requests.failedUnderLoad,
      byStatus: requests.byStatus,
      failures: requests.failures,
    },
    requestsByNode: requests.byNode,
    weights: traffic.weightChanges.map((change) => ({
      at: Math.max(0, Math.round(((change.at - traffic.loadStartedAt) / 1000 / scenario.timeScale) * 100) / 100),
      weights: Object.fromEntries(change.weights.map(([arn, weight]) => [slotOf.get(arn) ?? arn, weight])),
    })),
    loadBalancerPropagationSeconds: scenario.loadBalancer.propagationSeconds,
    timeline: runTimeline(run),
    ...(run.failover ? { failover: run.failover } : {}),
    availability: requests.total === 0 ? 1 : requests.ok / requests.total,
    minHealthyCapacityPercent: Math.round((traffic.minServing / traffic.baselineServing) * 100),
    finalState: run.finalState,
    awsCalls: Object.fromEntries(run.awsCalls),
    stateTransitions: run.executions.reduce((sum, execution) => sum + execution.stateTransitions, 0),
    durationSeconds: (Date.now() - run.started) / 1000,
    timeScale: scenario.timeScale,
    expectations: [],
  };
  return { ...report, expectations: evaluateExpectations(scenario, report) };
}

function runTimeline(run: {
  readonly scenario: Scenario;
  readonly started: number;
  readonly traffic: TrafficResult;
  readonly events: readonly RunEvent[];
  readonly commands: readonly { instanceId: string; documentName: string; from: number; to?: number }[];
}): RunTimeline {
  const { traffic } = run;
  const since = (at: number) => Math.round(((at - traffic.loadStartedAt) / 1000 / run.scenario.timeScale) * 100) / 100;
  const buckets = new Map<number, { byNode: Record<string, number>; failed: number }>();
  for (const record of traffic.records) {
    const second = Math.floor(record.at / 1000);
    const bucket = buckets.get(second) ?? { byNode: {}, failed: 0 };
    // As the summary counts them, so the buckets add up to the report's `requests.failed`.
    if (isFailedStatus(record.status)) bucket.failed += 1;
    else {
      const node = record.node ?? 'unknown';
      bucket.byNode[node] = (bucket.byNode[node] ?? 0) + 1;
    }
    buckets.set(second, bucket);
  }
  const lastSecond = Math.max(-1, ...buckets.keys());
  return {
    loadStartedAtMs: traffic.loadStartedAt - run.started,
    traffic: Array.from({ length: lastSecond + 1 }, (_, second) => ({
      at: since(traffic.loadStartedAt + second * 1000),
      ...(buckets.get(second) ?? { byNode: {}, failed: 0 }),
    })),
    nodes: Object.fromEntries(
      Object.entries(traffic.nodeStates).map(([id, changes]) => [
        id,
        changes.map((change) => ({ at: Math.max(0, since(change.at)), state: change.state })),
      ]),
    ),
    events: run.events.map((event) => ({ ...event, at: since(event.at) })),
    commands: run.commands.map((command) => ({
      instanceId: command.instanceId,
      document: command.documentName,
      from: since(command.from),
      to: command.to === undefined ? null : since(command.to),
    })),
  };
}

/** Checks the scenario's `expect` block against the run; the run fails when any does not hold. */
export function evaluateExpectations(scenario: Scenario, report: SandboxReport): Expectation[] {
  const expect = scenario.expect;
  const results: Expectation[] = [];
  const check = (what: string, expected: unknown, actual: unknown, holds: boolean) =>
    results.push({ what, expected, actual, holds });
  const statusesOf = (trigger: ExecutionReport['trigger']) =>
    report.executions.filter((execution) => execution.trigger === trigger).map((execution) => execution.status);
  if (expect.executions) {
    const statuses = statusesOf('scenario');
    check('executions', expect.executions, statuses, JSON.stringify(statuses) === JSON.stringify(expect.executions));
  }
  if (expect.alarmExecutions) {
    const statuses = statusesOf('alarm');
    const wanted = expect.alarmExecutions;
    check('executions started by alarms', wanted, statuses, JSON.stringify(statuses) === JSON.stringify(wanted));
  }
  if (expect.peerExecutions) {
    const statuses = statusesOf('peer');
    const wanted = expect.peerExecutions;
    check('failovers started by peers', wanted, statuses, JSON.stringify(statuses) === JSON.stringify(wanted));
  }
  if (expect.detectedBy !== undefined) {
    const actual = report.failover?.detectedBy ?? null;
    check('the loss detected by', expect.detectedBy, actual, actual === expect.detectedBy);
  }
  if (expect.noTrafficMoved !== undefined) {
    const moved = report.executions.some(
      (execution) =>
        execution.workflow === 'failover' &&
        execution.states.some((state) => state.name === FAILOVER_STATES.moveTraffic),
    );
    check('no failover moved traffic', expect.noTrafficMoved, !moved, !moved === expect.noTrafficMoved);
  }
  if (expect.ruleExecutions) {
    const statuses = statusesOf('rule');
    const wanted = expect.ruleExecutions;
    check('executions started by status rules', wanted, statuses, JSON.stringify(statuses) === JSON.stringify(wanted));
  }
  if (expect.standbyAdopted !== undefined) {
    const failovers = report.executions.filter((execution) => execution.workflow === 'failover');
    const entered = (state: string) => failovers.some((execution) => execution.states.some((s) => s.name === state));
    const adopted = entered(FAILOVER_STATES.takeStandby) && !entered(FAILOVER_STATES.launchReplacement);
    check(
      'a standby surge node adopted, no replacement launched',
      expect.standbyAdopted,
      adopted,
      adopted === expect.standbyAdopted,
    );
  }
  if (expect.maxFailedRequests !== undefined) {
    const failed = report.requests.failed;
    check('failed requests at most', expect.maxFailedRequests, failed, failed <= expect.maxFailedRequests);
  }
  if (expect.minRequests !== undefined) {
    check('requests at least', expect.minRequests, report.requests.total, report.requests.total >= expect.minRequests);
  }
  if (expect.finalVersion !== undefined) {
    const versions = report.finalState.nodes.map((node) => node.version);
    check(
      'final version of every node',
      expect.finalVersion,
      versions,
      versions.every((v) => v === expect.finalVersion),
    );
  }
  if (expect.error !== undefined) {
    const error = report.executions.find(
      (execution) => execution.trigger === 'scenario' && execution.status !== 'SUCCEEDED',
    )?.error;
    check('error', expect.error, error, error === expect.error);
  }
  if (expect.schemaVersion !== undefined) {
    const actual = report.finalState.schemaVersion;
    check('schema version', expect.schemaVersion, actual, actual === expect.schemaVersion);
  }
  if (expect.databaseSnapshotTaken !== undefined) {
    const snapshots = (report.finalState.database?.snapshots ?? []).map((snapshot) => snapshot.id);
    const taken = snapshots.length > 0;
    check('a database snapshot taken', expect.databaseSnapshotTaken, snapshots, taken === expect.databaseSnapshotTaken);
  }
  if (expect.servingVersion !== undefined) {
    const versions = report.finalState.nodes.filter((node) => node.healthy && node.weight > 0).map((n) => n.version);
    const wanted = expect.servingVersion;
    check(
      'version of every node serving',
      wanted,
      versions,
      versions.length > 0 && versions.every((version) => version === wanted),
    );
  }
  if (expect.serviceOnEveryNode !== undefined) {
    const wanted = expect.serviceOnEveryNode;
    const services = report.finalState.nodes.map((node) => node.services);
    check(
      'service on every node',
      wanted,
      services,
      services.every((list) => list.includes(wanted)),
    );
  }
  if (expect.surgeNodesLeft !== undefined) {
    const left = report.finalState.surgeNodes;
    check('surge nodes left', expect.surgeNodesLeft, left, left === expect.surgeNodesLeft);
  }
  if (expect.healthyNodes !== undefined) {
    const healthy = report.finalState.nodes.filter((node) => node.healthy).length;
    check('healthy permanent nodes', expect.healthyNodes, healthy, healthy === expect.healthyNodes);
  }
  if (expect.servingNodes !== undefined) {
    const serving = report.finalState.nodes.filter((node) => node.healthy && node.weight > 0).length;
    check('permanent nodes serving', expect.servingNodes, serving, serving === expect.servingNodes);
  }
  if (expect.maxFailoverOrchestrationSeconds !== undefined) {
    const actual = report.failover?.orchestrationSeconds ?? null;
    const limit = expect.maxFailoverOrchestrationSeconds;
    check('failover orchestration seconds at most', limit, actual, actual !== null && actual <= limit);
  }
  if (expect.maxFailedOutsideFailoverWindow !== undefined) {
    const actual = report.failover?.failedOutsideWindow ?? null;
    const limit = expect.maxFailedOutsideFailoverWindow;
    check('failed requests outside the failover window at most', limit, actual, actual !== null && actual <= limit);
  }
  check('lock released', false, report.finalState.lockHeld, !report.finalState.lockHeld);
  return results;
}
