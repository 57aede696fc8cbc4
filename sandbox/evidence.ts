import {
  type ExecutionLane,
  type Marker,
  type NodeLane,
  type NodePhase,
  type RunEvidence,
  stateKindOf,
} from '../report/evidence';
import type { NodeState } from './data-plane';
import type { ExecutionReport, SandboxReport } from './report';

/**
 * A sandbox run's evidence for the HTML report, from its JSON report: everything on one axis of scenario seconds
 * since the load started, as the report's `weights`, `failover` and `timeline` count them.
 */
export function sandboxEvidence(report: SandboxReport, generatedAt = new Date()): RunEvidence {
  const { timeline } = report;
  const toScenario = (runMs: number) =>
    Math.round(((runMs - timeline.loadStartedAtMs) / 1000 / report.timeScale) * 100) / 100;
  const executions = report.executions.map((execution, index) => executionLane(execution, index, toScenario));
  const lastTraffic = timeline.traffic.at(-1)?.at ?? 0;
  const lastState = Math.max(0, ...executions.flatMap((lane) => lane.states.map((state) => state.to)));
  const end = Math.max(lastTraffic + 1, lastState, ...report.weights.map((change) => change.at));
  const start = Math.min(0, ...executions.flatMap((lane) => lane.states.map((state) => state.from)));
  const roles = new Map(report.finalState.nodes.map((node) => [node.id, node.role]));
  const struck = new Set(timeline.events.flatMap((event) => (event.instanceId ? [event.instanceId] : [])));
  const failedTotal = report.requests.failed;
  return {
    title: report.scenario,
    subtitle:
      `sandbox run, time scale ${report.timeScale}: ${report.requests.total.toLocaleString('en-US')} requests, ` +
      `${report.durationSeconds.toFixed(0)} s real`,
    generatedAt: generatedAt.toISOString(),
    timeUnit: 'scenario seconds',
    span: { from: start, to: end },
    traffic: {
      at: timeline.traffic.map((bucket) => bucket.at),
      bucketSeconds: 1 / report.timeScale,
      byNode: Object.fromEntries(
        [...new Set(timeline.traffic.flatMap((bucket) => Object.keys(bucket.byNode)))]
          .sort()
          .map((node) => [node, timeline.traffic.map((bucket) => bucket.byNode[node] ?? 0)]),
      ),
      failed: timeline.traffic.map((bucket) => bucket.failed),
    },
    weights: report.weights,
    nodes: Object.entries(timeline.nodes).map(([id, changes]) =>
      nodeLane(
        id,
        roles.get(id),
        struck.has(id),
        withRestarts(
          changes,
          timeline.commands.filter((command) => command.instanceId === id),
          end,
        ),
        end,
        report.failover?.redundancyRestoredAt ?? null,
      ),
    ),
    executions,
    markers: markersOf(report),
    summary: [
      { label: 'availability', value: `${(report.availability * 100).toFixed(3)}%`, ok: failedTotal === 0 },
      {
        label: 'requests',
        value: `${report.requests.ok.toLocaleString('en-US')} ok, ${failedTotal.toLocaleString('en-US')} failed`,
      },
      { label: 'min healthy capacity', value: `${report.minHealthyCapacityPercent}%` },
      ...report.executions.map((execution) => ({
        label: `${execution.workflow} (${execution.trigger})`,
        value: `${execution.status} in ${execution.durationSeconds.toFixed(1)} s real`,
        ok: execution.status === 'SUCCEEDED',
      })),
      ...failoverFigures(report),
      { label: 'modelled ALB propagation', value: `${report.loadBalancerPropagationSeconds} s` },
    ],
    expectations: report.expectations.map((expectation) => ({
      what: expectation.what,
      expected: JSON.stringify(expectation.expected),
      actual: JSON.stringify(expectation.actual),
      holds: expectation.holds,
    })),
  };
}

const PHASES: Record<NodeState, NodePhase> = {
  booting: 'booting',
  serving: 'serving',
  standby: 'standby',
  draining: 'draining',
  unhealthy: 'unhealthy',
  gone: 'dead',
};

type LaneState = NodeState | 'restarting';

/**
 * A node that fails its checks while a command runs on it (a patch, an upgrade) is restarting, not unhealthy: the
 * unhealthy stretches that overlap one of its commands are named so.
 */
function withRestarts(
  changes: readonly { at: number; state: NodeState }[],
  commands: readonly { from: number; to: number | null }[],
  end: number,
): { at: number; state: LaneState }[] {
  return changes.map((change, index) => {
    const until = changes[index + 1]?.at ?? end;
    const duringCommand = commands.some((command) => command.from < until && (command.to ?? end) > change.at);
    return change.state === 'unhealthy' && duringCommand ? { ...change, state: 'restarting' } : change;
  });
}

function nodeLane(
  id: string,
  role: string | undefined,
  struckByFault: boolean,
  changes: readonly { at: number; state: LaneState }[],
  end: number,
  replacedAt: number | null,
): NodeLane {
  const phases = changes.flatMap((change, index) => {
    const from = change.at;
    const to = changes[index + 1]?.at ?? end;
    const phase = change.state === 'restarting' ? 'restarting' : PHASES[change.state];
    // A dead node that lost its slot to a replacement is replaced from the moment redundancy is back.
    if (phase === 'dead' && role === undefined && replacedAt !== null && replacedAt > from && replacedAt < to) {
      return [
        { from, to: replacedAt, phase },
        { from: replacedAt, to, phase: 'replaced' as const },
      ];
    }
    return [{ from, to, phase }];
  });
  // A node that is gone and that no fault struck was retired by a workflow (a surge node): its lane just stops.
  const shown = struckByFault ? phases : phases.filter((phase) => phase.phase !== 'dead');
  const label = role ?? (struckByFault ? 'lost' : 'surge');
  return { id, label: `${id} (${label})`, phases: shown };
}

function executionLane(
  execution: ExecutionReport,
  index: number,
  toScenario: (runMs: number) => number,
): ExecutionLane {
  const endedMs = Date.parse(execution.endedAt) - Date.parse(execution.startedAt) + (execution.states[0]?.at ?? 0);
  return {
    id: `${index + 1}`,
    workflow: execution.workflow,
    trigger: execution.trigger,
    status: execution.status,
    states: execution.states.map((state, at) => ({
      name: state.name,
      from: toScenario(state.at),
      to: toScenario(Math.max(state.at, execution.states[at + 1]?.at ?? endedMs)),
      kind: stateKindOf(state.type),
      rollback: state.afterFailure,
      retries: state.retries,
    })),
  };
}

function markersOf(report: SandboxReport): Marker[] {
  const markers: Marker[] = report.timeline.events.map((event) => ({
    at: event.at,
    kind: event.kind === 'fault' ? 'fault' : 'alarm',
    label: event.label,
  }));
  const failover = report.failover;
  if (failover) {
    const add = (at: number | null, kind: Marker['kind'], label: string) => {
      if (at !== null) markers.push({ at, kind, label });
    };
    add(failover.detectedAt, 'detected', `loss detected${failover.detectedBy ? ` by ${failover.detectedBy}` : ''}`);
    add(failover.weightsWrittenAt, 'weights-written', 'weights written');
    add(failover.trafficRestoredAt, 'weights-moved', 'traffic moved off the lost node');
    add(failover.redundancyRestoredAt, 'redundancy', 'redundancy restored');
  }
  return markers.sort((a, b) => a.at - b.at);
}

function failoverFigures(report: SandboxReport): { label: string; value: string }[] {
  const failover = report.failover;
  if (!failover) return [];
  const split = failover.rtoSplit;
  const seconds = (value: number | null) => (value === null ? '-' : `${value.toFixed(2)} s`);
  return [
    {
      label: 'RTO (death to traffic moved)',
      value:
        `${seconds(failover.rtoSeconds)}: detection ${seconds(split.detection)}, confirmation ` +
        `${seconds(split.confirmation)}, lock ${seconds(split.lock)}, weight write ${seconds(split.weightWrite)}, ` +
        `propagation ${seconds(split.propagation)}`,
    },
    { label: 'failed requests per loss', value: String(failover.failedInWindow) },
  ];
}
