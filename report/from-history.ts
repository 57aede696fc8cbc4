import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import {
  type ExecutionLane,
  type Marker,
  type NodeLane,
  type NodePhase,
  type RunEvidence,
  type StateKind,
  type SummaryFigure,
  stateKindOf,
} from './evidence';

/**
 * A real execution's evidence, from what Step Functions keeps of it (DescribeExecution and the whole of
 * GetExecutionHistory, with its data) and, optionally, the cluster's CloudWatch metrics for the same time: pure, no
 * AWS call (report/fetch-execution.ts makes them). Everything is placed in real seconds since the execution started.
 *
 * What is read, and from where:
 *
 * - the execution lane: every state entered, from its StateEntered event to its StateExited event (a state never
 *   exited ends where the execution ends). Its kind comes from the event's type (`TaskStateEntered` → task, ...).
 * - retries: the Task/LambdaFunction/Activity Scheduled events of one state beyond the first. A history without
 *   Scheduled events (the sandbox's, which converts the local runner's events) counts the failures that were followed
 *   by another attempt: every failure of the state, less the last one when the state was caught or never exited.
 * - the rollback path (see `markRollback`): zerodown's workflows enter their failure route through a state named
 *   `Failed: <step>` (a step's caught failure) or `Timed out: <step>` (a poll that ran out of attempts), and nowhere
 *   else. An execution that ended FAILED, ABORTED or TIMED_OUT (or still runs) after entering one ran that route from
 *   there: every state from the last entry on is flagged. One that then succeeded took a route that carries on (a
 *   notice that could not be sent, a bake that failed after the rollout): only the entry itself is flagged. A history
 *   with no such names (a state machine built otherwise) that ended FAILED is flagged from the first state entered
 *   after the last caught task failure.
 * - weights: every traffic shift's result in the states' outputs (`weights: [{ slot, weight }]` with `shiftedAt`, as
 *   shift-traffic returns it, at whatever result path: `$.shift`, `$.moved`, `$.restored`, `$.rollback.weights`...),
 *   starting from the first shift's `previousWeights` (or the first snapshot's weights when nothing shifted); the
 *   `SlotWeight` metric only when the history has none.
 * - markers: each shift (`weights-moved` when it changed the weights, `weights-written` when it wrote those already
 *   there), a caught task failure, the execution's end when it failed, was aborted or timed out, and a failover's
 *   timeline (its alarm, the loss confirmed, the traffic moved, redundancy restored) read from the same paths its
 *   report reads (`$.request.detectedAt`, `$.loss.assessedAt`, `$.moved.shiftedAt`, `$.restored.shiftedAt`).
 * - node lanes: the nodes the first snapshot (or the failover's cluster model) names, with their role and slot, and
 *   the nodes launched on the way (`$.surge`). A node's phase is its slot's weight (serving above 0, standby at 0),
 *   except: `booting` from its launch to its first ready check; `restarting` from the command sent to it while the
 *   workflow notes it as out of service (`$.progress.outOfService`: the patch or upgrade) to its verification (or a
 *   failure on the way, after which the history no longer says); `draining` from its deregistration; gone at its
 *   termination; `unhealthy` from the start for the node a failover confirms lost, and `replaced` once another node
 *   is adopted into its slot. Without any weight, a node's snapshot `serving` flag gives one phase for the run.
 */

/** A time as the SDK gives it (Date) or as the API's JSON has it (epoch seconds, as a recorded history keeps it). */
export type Instant = Date | number | string;

/** What DescribeExecution answers, as far as the report reads it. */
export interface ExecutionRecord {
  readonly executionArn?: string | undefined;
  readonly stateMachineArn?: string | undefined;
  readonly name?: string | undefined;
  readonly status?: string | undefined;
  readonly startDate?: Instant | undefined;
  readonly stopDate?: Instant | undefined;
  readonly input?: string | undefined;
  readonly output?: string | undefined;
  readonly error?: string | undefined;
  readonly cause?: string | undefined;
}

/** A GetExecutionHistory event as the SDK types it, or as the API's JSON has it (its timestamp in epoch seconds). */
export type HistoryEventLike = Omit<HistoryEvent, 'timestamp'> & { readonly timestamp?: Instant | undefined };

/** One point of a CloudWatch metric. */
export interface MetricPoint {
  readonly at: Instant;
  readonly value: number;
}

/** The cluster's `ZeroDown` metrics over the execution's time (functions/domain/metric-names.ts). */
export interface ExecutionMetrics {
  /** `SlotWeight` by slot: each slot's weight after each shift. */
  readonly weights?: Readonly<Record<string, readonly MetricPoint[]>>;
  /** `HealthyServingNodes`: the healthy nodes serving after each shift. */
  readonly healthyServing?: readonly MetricPoint[];
}

export interface HistoryEvidenceInput {
  readonly execution: ExecutionRecord;
  readonly events: readonly HistoryEventLike[];
  readonly metrics?: ExecutionMetrics;
  /** When the evidence was gathered; also the end of an execution that still runs. @default now */
  readonly generatedAt?: Date;
}

export function evidenceFromHistory(input: HistoryEvidenceInput): RunEvidence {
  const generatedAt = input.generatedAt ?? new Date();
  const { execution } = input;
  const events = input.events.map((event) => ({ event, at: millis(event.timestamp) }));
  const eventTimes = events.map((entry) => entry.at).filter((at): at is number => at !== undefined);
  const started = millis(execution.startDate) ?? Math.min(...eventTimes, generatedAt.getTime());
  const status = execution.status ?? endStatusOf(input.events) ?? 'RUNNING';
  const lastEvent = eventTimes.length > 0 ? Math.max(...eventTimes) : started;
  const stopped = Math.max(
    millis(execution.stopDate) ?? (status === 'RUNNING' ? generatedAt.getTime() : lastEvent),
    lastEvent,
  );
  const seconds = (ms: number) => Math.round(Math.max(0, ms - started)) / 1000;
  const end = seconds(stopped);

  const request = parseObject(execution.input) ?? startInputOf(input.events) ?? {};
  const cluster = typeof request.cluster === 'string' ? request.cluster : undefined;
  const workflow = workflowOf(execution, cluster);

  const visits = visitsOf(events, stopped);
  markRollback(visits, status);
  const facts = factsOf(visits);

  const markers: Marker[] = [];
  const weights = weightsOf(facts, seconds, input.metrics);
  for (const shift of facts.shifts) {
    markers.push({
      at: seconds(shift.at),
      kind: shift.changed ? 'weights-moved' : 'weights-written',
      label: `${shift.step}: ${describeWeights(shift.weights)}${shift.changed ? '' : ' (unchanged)'}`,
    });
  }
  for (const visit of visits) {
    const failure = visit.failures.at(-1);
    if (visit.caught && failure) {
      markers.push({
        at: seconds(visit.failedAt ?? visit.exitedAt ?? visit.enteredAt),
        kind: 'note',
        label: `${visit.name} failed: ${failure.error}${failure.cause ? ` (${oneLine(failure.cause)})` : ''}`,
      });
    }
  }
  const timeline = failoverTimeline(facts, request);
  if (timeline) markers.push(...timelineMarkers(timeline, facts, seconds, started));
  const ending = endingOf(input.events, execution);
  if (ending && ending.status !== 'SUCCEEDED') {
    markers.push({
      at: ending.at === undefined ? end : seconds(ending.at),
      kind: 'note',
      label: `execution ${ending.status}${ending.error ? `: ${ending.error}` : ''}${ending.cause ? ` (${oneLine(ending.cause)})` : ''}`,
    });
  }
  markers.sort((a, b) => a.at - b.at);

  const lane: ExecutionLane = {
    id: execution.executionArn ?? execution.name ?? 'execution',
    workflow,
    trigger: triggerOf(workflow, request),
    status,
    states: visits.map((visit) => ({
      name: visit.name,
      from: seconds(visit.enteredAt),
      to: seconds(visit.exitedAt ?? visit.leftAt ?? stopped),
      kind: visit.kind,
      rollback: visit.rollback,
      retries: visit.retries,
    })),
  };

  const startedAt = new Date(started).toISOString();
  const topology = facts.topology ? `, ${facts.topology}` : '';
  return {
    title: `${workflow}${cluster ? ` on ${cluster}` : ''}`,
    subtitle: `execution ${execution.name ?? lane.id}${cluster ? `, cluster ${cluster}${topology}` : ''}, started ${startedAt}`,
    generatedAt: generatedAt.toISOString(),
    timeUnit: 'seconds',
    span: { from: 0, to: end },
    weights,
    nodes: nodeLanes(facts, weights, seconds, end),
    executions: [lane],
    markers,
    summary: summaryOf({ workflow, status, end, visits, ending, execution, timeline, facts, metrics: input.metrics }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Times and small helpers

function millis(value: Instant | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  // The API's JSON gives epoch seconds (with fractions); a number in the billions of seconds is never milliseconds.
  if (typeof value === 'number') return Number.isFinite(value) ? (value < 1e11 ? value * 1000 : value) : undefined;
  const numeric = Number(value);
  if (value.trim() !== '' && Number.isFinite(numeric)) return millis(numeric);
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}

type Json = Record<string, unknown>;

function parseObject(text: string | undefined): Json | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * A Lambda error's cause is a JSON document whose message is what an operator reads, after a prefix where a rollback
 * names the failed step (`<step> failed: {...}`); otherwise the cause itself. On one line, 200 characters at most.
 */
function oneLine(cause: string): string {
  const brace = cause.indexOf('{');
  const message = brace >= 0 ? text(parseObject(cause.slice(brace))?.errorMessage) : undefined;
  const line = (message !== undefined ? `${cause.slice(0, brace)}${message}` : cause).replace(/\s*\n\s*/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

function describeWeights(weights: Readonly<Record<string, number>>): string {
  return Object.entries(weights)
    .map(([slot, weight]) => `${slot}=${weight}`)
    .join(' ');
}

function startInputOf(events: readonly HistoryEventLike[]): Json | undefined {
  return parseObject(events.find((event) => event.type === 'ExecutionStarted')?.executionStartedEventDetails?.input);
}

const END_EVENTS: Readonly<Record<string, string>> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionAborted: 'ABORTED',
  ExecutionTimedOut: 'TIMED_OUT',
};

function endStatusOf(events: readonly HistoryEventLike[]): string | undefined {
  const last = [...events].reverse().find((event) => END_EVENTS[event.type ?? '']);
  return last ? END_EVENTS[last.type ?? ''] : undefined;
}

interface Ending {
  readonly status: string;
  readonly at: number | undefined;
  readonly error: string | undefined;
  readonly cause: string | undefined;
}

function endingOf(events: readonly HistoryEventLike[], execution: ExecutionRecord): Ending | undefined {
  const last = [...events].reverse().find((event) => END_EVENTS[event.type ?? '']);
  const status = execution.status ?? (last ? END_EVENTS[last.type ?? ''] : undefined);
  if (!status || status === 'RUNNING') return undefined;
  const details =
    last?.executionFailedEventDetails ?? last?.executionAbortedEventDetails ?? last?.executionTimedOutEventDetails;
  return {
    status,
    at: last ? millis(last.timestamp) : millis(execution.stopDate),
    error: details?.error ?? execution.error,
    cause: details?.cause ?? execution.cause,
  };
}

/**
 * The workflow: the state machine's name (`zerodown-<cluster>-<workflow>` on AWS; the sandbox's names carry the
 * construct's id), else the execution's name as the CLI makes it (`<workflow>-<time>`), else the state machine's name.
 */
function workflowOf(execution: ExecutionRecord, cluster: string | undefined): string {
  const machine = execution.stateMachineArn?.split(':').at(-1) ?? '';
  const names = Object.keys(WORKFLOWS) as WorkflowName[];
  if (cluster && machine.startsWith(`zerodown-${cluster}-`)) {
    const rest = machine.slice(`zerodown-${cluster}-`.length);
    if ((names as string[]).includes(rest)) return rest;
  }
  const bySuffix = names.filter((name) => machine.endsWith(`-${name}`)).sort((a, b) => b.length - a.length)[0];
  if (bySuffix) return bySuffix;
  const byConstruct = names
    .filter((name) => machine.includes(WORKFLOWS[name].constructId))
    .sort((a, b) => WORKFLOWS[b].constructId.length - WORKFLOWS[a].constructId.length)[0];
  if (byConstruct) return byConstruct;
  const byExecution = names
    .filter((name) => execution.name?.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return byExecution ?? (machine || 'execution');
}

/** What started it, as far as its input says: a failover names its alarm or its trigger; others were started. */
function triggerOf(workflow: string, request: Json): string {
  if (workflow === 'failover') {
    if (request.trigger === 'peer') return 'peer watch';
    if (request.trigger === 'recheck') return `re-check of ${text(request.alarmName) ?? 'an alarm'} in ALARM`;
    return `alarm ${text(request.alarmName) ?? ''}`.trim();
  }
  if (request.dryRun === true) return 'dry run (StartExecution)';
  return 'StartExecution';
}

// ---------------------------------------------------------------------------------------------------------------
// The states entered

const SCHEDULED = new Set(['TaskScheduled', 'LambdaFunctionScheduled', 'ActivityScheduled']);
const SUCCEEDED = new Set(['TaskSucceeded', 'LambdaFunctionSucceeded', 'ActivitySucceeded']);
const FAILED = new Set([
  'TaskFailed',
  'TaskTimedOut',
  'TaskStartFailed',
  'TaskSubmitFailed',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'LambdaFunctionStartFailed',
  'LambdaFunctionScheduleFailed',
  'ActivityFailed',
  'ActivityTimedOut',
  'ActivityScheduleFailed',
]);

interface Visit {
  readonly name: string;
  readonly kind: StateKind;
  readonly enteredAt: number;
  exitedAt?: number;
  /** Left without a StateExited event, for the state entered next (a caught failure): when. */
  leftAt?: number;
  output?: Json;
  scheduled: number;
  /** The outcome of each attempt, in order: what tells a retry from a catch in the API's format. */
  readonly outcomes: ('ok' | 'failed')[];
  readonly failures: { readonly error: string; readonly cause: string }[];
  failedAt?: number;
  /** A state entered after this one, in the same branch: the execution went on past it. */
  followed: boolean;
  caught: boolean;
  retries: number;
  rollback: boolean;
}

function detailsOf(event: HistoryEventLike): { error?: string; cause?: string } | undefined {
  const entries = Object.entries(event) as [string, unknown][];
  const details = entries.find(([key, value]) => key.endsWith('EventDetails') && isObject(value))?.[1];
  return isObject(details) ? { error: text(details.error), cause: text(details.cause) } : undefined;
}

/**
 * Each state entered, in order. Task events go to the state whose branch they continue (`previousEventId`), so
 * the states of parallel branches keep their own; a history without those links gives them to the last state open.
 */
function visitsOf(events: readonly { event: HistoryEventLike; at: number | undefined }[], stopped: number): Visit[] {
  const visits: Visit[] = [];
  const byEvent = new Map<number, Visit>();
  let lastAt = events.find((entry) => entry.at !== undefined)?.at ?? stopped;
  const owner = (event: HistoryEventLike): Visit | undefined =>
    (event.previousEventId !== undefined ? byEvent.get(Number(event.previousEventId)) : undefined) ??
    [...visits].reverse().find((visit) => visit.exitedAt === undefined);
  for (const { event, at: eventAt } of events) {
    const at = eventAt ?? lastAt;
    lastAt = at;
    const type = event.type ?? '';
    const id = event.id !== undefined ? Number(event.id) : undefined;
    if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
      const before = owner(event);
      if (before && before.exitedAt !== undefined) before.followed = true;
      else if (before && before.failures.length > 0) {
        // Caught without a StateExited: the state was left for this one.
        before.followed = true;
        before.leftAt ??= at;
      }
      const visit: Visit = {
        name: event.stateEnteredEventDetails.name,
        kind: stateKindOf(type.slice(0, -'StateEntered'.length)),
        enteredAt: at,
        scheduled: 0,
        outcomes: [],
        failures: [],
        followed: false,
        caught: false,
        retries: 0,
        rollback: false,
      };
      visits.push(visit);
      if (id !== undefined) byEvent.set(id, visit);
      continue;
    }
    if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
      const name = event.stateExitedEventDetails.name;
      const linked = owner(event);
      const visit =
        linked?.name === name && linked.exitedAt === undefined
          ? linked
          : [...visits].reverse().find((candidate) => candidate.name === name && candidate.exitedAt === undefined);
      if (visit) {
        visit.exitedAt = at;
        const output = parseObject(event.stateExitedEventDetails.output);
        if (output) visit.output = output;
        if (id !== undefined) byEvent.set(id, visit);
      }
      continue;
    }
    const visit = owner(event);
    if (!visit) continue;
    if (id !== undefined) byEvent.set(id, visit);
    if (SCHEDULED.has(type)) visit.scheduled++;
    else if (SUCCEEDED.has(type)) visit.outcomes.push('ok');
    else if (FAILED.has(type)) {
      const details = detailsOf(event);
      visit.outcomes.push('failed');
      visit.failures.push({ error: details?.error ?? type, cause: details?.cause ?? '' });
      visit.failedAt = at;
    }
  }
  for (const visit of visits) {
    visit.caught = caught(visit);
    const lastAttemptFailed = visit.caught || (visit.exitedAt === undefined && visit.failures.length > 0);
    visit.retries =
      visit.scheduled > 0
        ? visit.scheduled - 1
        : Math.max(0, visit.failures.length - (lastAttemptFailed && visit.failures.length > 0 ? 1 : 0));
  }
  return visits;
}

/**
 * Whether the state's last attempt failed and the state machine caught it (the execution went on). In the API's
 * format each attempt ends in a Succeeded or a Failed event, so the last outcome tells. A history without them (the
 * sandbox's) shows a retried attempt and a caught one alike, a failure then the state exited: a Catch puts the error
 * into the state's output (`{ Error, Cause }` at its ResultPath), which a retry that succeeded does not.
 */
function caught(visit: Visit): boolean {
  const failure = visit.failures.at(-1);
  if (!failure) return false;
  if (visit.outcomes.includes('ok') || visit.scheduled > 0) {
    return visit.outcomes.at(-1) === 'failed' && (visit.exitedAt !== undefined || visit.followed);
  }
  if (visit.exitedAt === undefined) return visit.followed;
  return visit.output !== undefined && carriesError(visit.output, failure, 0);
}

function carriesError(value: unknown, failure: { error: string; cause: string }, depth: number): boolean {
  if (!isObject(value) || depth > 3) return false;
  if (value.Error === failure.error && (value.Cause ?? '') === failure.cause) return true;
  return Object.values(value).some((child) => carriesError(child, failure, depth + 1));
}

/** How zerodown names the way into a failure route (WorkflowBuilder's failedStep and failure, failover's). */
const ROUTE_ENTRY = /^(Failed|Timed out): /;

/** Flags the states on the rollback path: see the comment at the top of the file. */
function markRollback(visits: Visit[], status: string): void {
  const entries = visits.flatMap((visit, index) => (ROUTE_ENTRY.test(visit.name) ? [index] : []));
  const ranTheRoute = status !== 'SUCCEEDED';
  if (entries.length > 0) {
    if (ranTheRoute) {
      for (const visit of visits.slice(entries.at(-1))) visit.rollback = true;
    } else {
      for (const index of entries) {
        const visit = visits[index];
        if (visit) visit.rollback = true;
      }
    }
    return;
  }
  if (status !== 'FAILED') return;
  const lastCaught = visits.map((visit) => visit.caught).lastIndexOf(true);
  if (lastCaught < 0) return;
  for (const visit of visits.slice(lastCaught + 1)) visit.rollback = true;
}

// ---------------------------------------------------------------------------------------------------------------
// What the states' outputs say

interface Shift {
  readonly step: string;
  readonly at: number;
  readonly changed: boolean;
  readonly weights: Readonly<Record<string, number>>;
  readonly previous: Readonly<Record<string, number>> | undefined;
  readonly servingAfter: number | undefined;
  readonly requiredServing: number | undefined;
}

interface KnownNode {
  readonly id: string;
  role?: string;
  slot?: string;
  serving?: boolean;
  /** Launched during the execution (a surge or replacement node): when it was. */
  launchedAt?: number;
  readyAt?: number;
  replacement?: boolean;
  replacedAt?: number;
  drainingFrom?: number;
  goneAt?: number;
  readonly restarts: { from: number; to?: number }[];
}

interface Facts {
  readonly shifts: Shift[];
  /** The weights the first snapshot read, when nothing shifted. */
  snapshotWeights?: Record<string, number>;
  readonly nodes: Map<string, KnownNode>;
  topology?: string;
  /** Target group → slot, to place a launched node. */
  readonly slotsByTargetGroup: Map<string, string>;
  /** Values the failover's timeline reads, first seen where. */
  readonly firstSeen: Map<string, { value: unknown; at: number }>;
  lost?: { instanceId: string; slot?: string; at: number };
  adopted?: { instanceId: string; slot?: string; replaced?: string; at: number };
}

function slotWeights(value: unknown): Record<string, number> | undefined {
  if (!Array.isArray(value)) return undefined;
  const weights: Record<string, number> = {};
  for (const entry of value) {
    if (!isObject(entry) || typeof entry.slot !== 'string' || typeof entry.weight !== 'number') return undefined;
    weights[entry.slot] = entry.weight;
  }
  return weights;
}

/** Every object in `value` down to `depth`, with its path. */
function* objectsIn(value: unknown, depth: number, path = ''): Generator<{ path: string; value: Json }> {
  if (!isObject(value)) return;
  yield { path, value };
  if (depth <= 0) return;
  for (const [key, child] of Object.entries(value)) yield* objectsIn(child, depth - 1, path ? `${path}.${key}` : key);
}

const at = (visit: Visit) => visit.exitedAt ?? visit.leftAt ?? visit.enteredAt;

function factsOf(visits: readonly Visit[]): Facts {
  const facts: Facts = {
    shifts: [],
    nodes: new Map(),
    slotsByTargetGroup: new Map(),
    firstSeen: new Map(),
  };
  const seenShifts = new Set<string>();
  const seenRetires = new Set<string>();
  const seenCommands = new Set<string>();
  let outOfService = new Set<string>();
  let lastVerified: string | undefined;
  const node = (id: string): KnownNode => {
    let known = facts.nodes.get(id);
    if (!known) {
      known = { id, restarts: [] };
      facts.nodes.set(id, known);
    }
    return known;
  };
  const restarting = () => [...facts.nodes.values()].filter((known) => known.restarts.at(-1)?.to === undefined);

  for (const visit of visits) {
    const output = visit.output;
    const exited = at(visit);
    // A failure while a node restarts ends what the history can say of the restart.
    if (visit.caught) {
      for (const known of restarting()) {
        const open = known.restarts.at(-1);
        if (open) open.to = visit.failedAt ?? exited;
      }
    }
    if (!output) continue;
    for (const key of ['request.detectedAt', 'loss.assessedAt', 'moved.shiftedAt', 'restored.shiftedAt']) {
      if (facts.firstSeen.has(key)) continue;
      const [head = '', tail = ''] = key.split('.');
      const holder = output[head];
      if (isObject(holder) && holder[tail] !== undefined) facts.firstSeen.set(key, { value: holder[tail], at: exited });
    }

    for (const { value } of objectsIn(output, 3)) {
      // A traffic shift's result.
      const weights = slotWeights(value.weights);
      if (weights && typeof value.shiftedAt === 'string') {
        for (const entry of value.weights as Json[]) {
          if (typeof entry.targetGroupArn === 'string' && typeof entry.slot === 'string') {
            facts.slotsByTargetGroup.set(entry.targetGroupArn, entry.slot);
          }
        }
        const key = `${value.shiftedAt} ${JSON.stringify(weights)}`;
        if (!seenShifts.has(key)) {
          seenShifts.add(key);
          const shiftedAt = Date.parse(value.shiftedAt);
          const capacity = isObject(value.capacity) ? value.capacity : {};
          facts.shifts.push({
            step: visit.name,
            // When the load balancer was read back with them, within the step.
            at: Number.isNaN(shiftedAt) ? exited : Math.min(Math.max(shiftedAt, visit.enteredAt), exited),
            changed: value.changed !== false,
            weights,
            previous: slotWeights(value.previousWeights),
            servingAfter: typeof capacity.servingAfter === 'number' ? capacity.servingAfter : undefined,
            requiredServing: typeof capacity.requiredServing === 'number' ? capacity.requiredServing : undefined,
          });
        }
      }
      // A snapshot of the cluster: its nodes, their slots, and the weights it read.
      if (Array.isArray(value.nodes) && typeof value.takenAt === 'string') {
        const snapshotWeights = slotWeights(value.weights);
        if (snapshotWeights && !facts.snapshotWeights && Object.keys(snapshotWeights).length > 0) {
          facts.snapshotWeights = snapshotWeights;
        }
        for (const entry of Array.isArray(value.weights) ? value.weights : []) {
          if (isObject(entry) && typeof entry.targetGroupArn === 'string' && typeof entry.slot === 'string') {
            facts.slotsByTargetGroup.set(entry.targetGroupArn, entry.slot);
          }
        }
        for (const entry of value.nodes) {
          if (!isObject(entry) || typeof entry.instanceId !== 'string') continue;
          const known = node(entry.instanceId);
          known.role ??= text(entry.role);
          known.slot ??= text(entry.slot);
          if (typeof entry.serving === 'boolean') known.serving ??= entry.serving;
        }
      }
      // A cluster model (the failover reads it under the lock): the permanent nodes and the topology.
      if (Array.isArray(value.nodes) && isObject(value.traffic) && typeof value.topology === 'string') {
        facts.topology ??= value.topology;
        for (const entry of value.nodes) {
          if (!isObject(entry) || typeof entry.instanceId !== 'string') continue;
          // A node known already (a launched node adopted since) keeps the slot it was seen in first.
          const known = node(entry.instanceId);
          known.role ??= text(entry.role);
          known.slot ??= text(entry.slot);
        }
      }
      // A node retired: deregistered (draining), then terminated.
      if (typeof value.instanceId === 'string' && typeof value.action === 'string' && 'terminated' in value) {
        const key = `${value.instanceId} ${value.action} ${value.terminated}`;
        if (!seenRetires.has(key)) {
          seenRetires.add(key);
          const known = node(value.instanceId);
          if (value.action === 'deregister') known.drainingFrom ??= exited;
          if (value.action === 'terminate' || value.terminated === true) known.goneAt ??= exited;
        }
      }
    }

    if (typeof output.topology === 'string') facts.topology ??= output.topology;
    const plan = output.plan;
    if (isObject(plan) && typeof plan.topology === 'string') facts.topology ??= plan.topology;

    // A node launched: a surge node, or a failover's replacement.
    const surge = output.surge;
    if (isObject(surge) && typeof surge.instanceId === 'string' && !facts.nodes.get(surge.instanceId)?.launchedAt) {
      const known = node(surge.instanceId);
      if (known.slot === undefined && known.role === undefined) {
        known.launchedAt = surge.reused === true ? undefined : visit.enteredAt;
        const group = text(surge.targetGroupArn);
        known.slot = (group && facts.slotsByTargetGroup.get(group)) ?? 'surge';
        known.replacement = /replacement/i.test(visit.name);
        if (surge.reused === true) known.readyAt = exited;
      }
    }
    // Ready: a launched node's boot is over.
    const ready = output.ready;
    if (isObject(ready) && typeof ready.instanceId === 'string' && ready.ready === true) {
      const known = facts.nodes.get(ready.instanceId);
      if (known?.launchedAt !== undefined) known.readyAt ??= exited;
    }
    // The nodes a workflow took out of service: a command sent to one of them restarts it.
    const progress = output.progress;
    if (isObject(progress) && Array.isArray(progress.outOfService)) {
      const now = new Set(
        progress.outOfService.map((entry) => (isObject(entry) ? text(entry.instanceId) : text(entry))).filter(Boolean),
      ) as Set<string>;
      // Back in service without a verification this state could see: what it was doing is over.
      for (const id of outOfService) {
        if (now.has(id)) continue;
        const open = facts.nodes.get(id)?.restarts.at(-1);
        if (open && open.to === undefined) open.to = exited;
      }
      outOfService = now;
    }
    const command = output.command;
    if (isObject(command) && typeof command.commandId === 'string' && !seenCommands.has(command.commandId)) {
      seenCommands.add(command.commandId);
      for (const id of Array.isArray(command.instanceIds) ? command.instanceIds : []) {
        if (typeof id !== 'string' || !outOfService.has(id)) continue;
        const known = node(id);
        if (known.restarts.at(-1)?.to === undefined && known.restarts.length > 0) continue;
        known.restarts.push({ from: visit.enteredAt });
      }
    }
    // Verified: the restart is over. Only a new verification counts: the last one stays in every output after it.
    const verified = output.verified;
    const verifiedJson = JSON.stringify(verified);
    const newVerification = verifiedJson !== lastVerified;
    lastVerified = verifiedJson;
    if (newVerification && isObject(verified) && typeof verified.instanceId === 'string' && verified.passed === true) {
      const open = facts.nodes.get(verified.instanceId)?.restarts.at(-1);
      if (open && open.to === undefined) open.to = exited;
    }
    // A failover: the node confirmed lost, and the node adopted into its slot.
    const loss = output.loss;
    if (!facts.lost && isObject(loss) && loss.lost === true && typeof loss.instanceId === 'string') {
      facts.lost = { instanceId: loss.instanceId, at: exited, ...(text(loss.slot) ? { slot: text(loss.slot) } : {}) };
      const known = node(loss.instanceId);
      known.role ??= text(loss.role);
      known.slot ??= text(loss.slot);
      for (const survivor of Array.isArray(loss.survivors) ? loss.survivors : []) {
        if (isObject(survivor) && typeof survivor.instanceId === 'string') {
          node(survivor.instanceId).slot ??= text(survivor.slot);
        }
      }
    }
    const adopted = output.adopted;
    if (!facts.adopted && isObject(adopted) && typeof adopted.instanceId === 'string') {
      facts.adopted = {
        instanceId: adopted.instanceId,
        at: exited,
        ...(text(adopted.slot) ? { slot: text(adopted.slot) } : {}),
        ...(text(adopted.replaced) ? { replaced: text(adopted.replaced) } : {}),
      };
      const replacement = node(adopted.instanceId);
      replacement.role ??= text(adopted.role);
      replacement.replacement = true;
      const replaced = text(adopted.replaced);
      if (replaced) node(replaced).replacedAt ??= exited;
    }
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------------------------
// Weights

type WeightEntry = RunEvidence['weights'][number];

function weightsOf(
  facts: Facts,
  seconds: (ms: number) => number,
  metrics: ExecutionMetrics | undefined,
): WeightEntry[] {
  const entries: WeightEntry[] = [];
  const push = (atSeconds: number, weights: Readonly<Record<string, number>>) => {
    const last = entries.at(-1);
    if (last && JSON.stringify(last.weights) === JSON.stringify(weights)) return;
    entries.push({ at: atSeconds, weights: { ...weights } });
  };
  const first = facts.shifts[0]?.previous ?? facts.snapshotWeights;
  if (first) push(0, first);
  for (const shift of facts.shifts) if (shift.changed || entries.length === 0) push(seconds(shift.at), shift.weights);
  if (entries.length > 0 || !metrics?.weights) return entries;
  return weightsFromMetrics(metrics.weights, seconds);
}

/**
 * The weights from the `SlotWeight` metric, where the history has none: at each point in time, every slot's latest
 * value then. The first entry holds from the start: the values before it, or the first ones.
 */
function weightsFromMetrics(
  series: Readonly<Record<string, readonly MetricPoint[]>>,
  seconds: (ms: number) => number,
): WeightEntry[] {
  const points = Object.entries(series)
    .flatMap(([slot, values]) =>
      values
        .map((point) => ({ slot, at: millis(point.at), value: point.value }))
        .filter((point) => point.at !== undefined),
    )
    .sort((a, b) => (a.at ?? 0) - (b.at ?? 0));
  const entries: WeightEntry[] = [];
  const current: Record<string, number> = {};
  for (const point of points) {
    current[point.slot] = point.value;
    const atSeconds = seconds(point.at ?? 0);
    const last = entries.at(-1);
    if (last && last.at === atSeconds) entries[entries.length - 1] = { at: atSeconds, weights: { ...current } };
    else if (!last || JSON.stringify(last.weights) !== JSON.stringify(current)) {
      entries.push({ at: atSeconds, weights: { ...current } });
    }
  }
  const first = entries[0];
  if (first && first.at !== 0) entries[0] = { at: 0, weights: first.weights };
  // The first point may hold only some slots: every later entry carries them all.
  return entries;
}

function weightAt(weights: readonly WeightEntry[], slot: string, atSeconds: number): number | undefined {
  let value: number | undefined;
  for (const entry of weights) {
    if (entry.at > atSeconds) break;
    if (entry.weights[slot] !== undefined) value = entry.weights[slot];
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes

function nodeLanes(
  facts: Facts,
  weights: readonly WeightEntry[],
  seconds: (ms: number) => number,
  end: number,
): NodeLane[] {
  const lanes: NodeLane[] = [];
  const adopted = facts.adopted;
  for (const known of facts.nodes.values()) {
    const from = known.launchedAt !== undefined ? seconds(known.launchedAt) : 0;
    const to = known.goneAt !== undefined ? seconds(known.goneAt) : end;
    const adoptedAt = adopted?.instanceId === known.id ? seconds(adopted.at) : undefined;
    const slotAt = (t: number) =>
      adoptedAt !== undefined && t >= adoptedAt ? (adopted?.slot ?? known.slot) : (known.slot ?? undefined);
    const intervals = {
      replaced: known.replacedAt !== undefined ? seconds(known.replacedAt) : undefined,
      lost: facts.lost?.instanceId === known.id ? 0 : undefined,
      draining: known.drainingFrom !== undefined ? seconds(known.drainingFrom) : undefined,
      booting:
        known.launchedAt !== undefined
          ? { from, to: known.readyAt !== undefined ? seconds(known.readyAt) : to }
          : undefined,
      restarts: known.restarts.map((restart) => ({
        from: seconds(restart.from),
        to: restart.to !== undefined ? seconds(restart.to) : to,
      })),
    };
    const phaseAt = (t: number): NodePhase | undefined => {
      if (intervals.replaced !== undefined && t >= intervals.replaced) return 'replaced';
      if (intervals.lost !== undefined && t >= intervals.lost) return 'unhealthy';
      if (intervals.draining !== undefined && t >= intervals.draining) return 'draining';
      if (intervals.restarts.some((restart) => t >= restart.from && t < restart.to)) return 'restarting';
      if (intervals.booting && t >= intervals.booting.from && t < intervals.booting.to) return 'booting';
      const slot = slotAt(t);
      const weight = slot !== undefined ? weightAt(weights, slot, t) : undefined;
      if (weight !== undefined) return weight > 0 ? 'serving' : 'standby';
      if (known.serving !== undefined) return known.serving ? 'serving' : 'standby';
      return undefined;
    };
    const cuts = new Set<number>([from, to]);
    for (const entry of weights) cuts.add(entry.at);
    for (const value of [intervals.replaced, intervals.lost, intervals.draining, adoptedAt]) {
      if (value !== undefined) cuts.add(value);
    }
    if (intervals.booting) {
      cuts.add(intervals.booting.from);
      cuts.add(intervals.booting.to);
    }
    for (const restart of intervals.restarts) {
      cuts.add(restart.from);
      cuts.add(restart.to);
    }
    const times = [...cuts].filter((t) => t >= from && t <= to).sort((a, b) => a - b);
    const phases: { from: number; to: number; phase: NodePhase }[] = [];
    for (let index = 0; index < times.length - 1; index++) {
      const start = times[index] ?? 0;
      const stop = times[index + 1] ?? start;
      if (stop <= start) continue;
      const phase = phaseAt(start);
      if (!phase) continue;
      const last = phases.at(-1);
      if (last && last.phase === phase && last.to === start) last.to = stop;
      else phases.push({ from: start, to: stop, phase });
    }
    if (phases.length === 0) continue;
    lanes.push({ id: known.id, label: labelOf(known, adopted), phases });
  }
  return lanes;
}

function labelOf(known: KnownNode, adopted: Facts['adopted']): string {
  const slot = adopted?.instanceId === known.id ? (adopted.slot ?? known.slot) : known.slot;
  const parts = known.replacement
    ? [known.role, slot && slot !== 'surge' ? `slot ${slot}` : undefined, 'replacement']
    : known.launchedAt !== undefined || slot === 'surge'
      ? ['surge node']
      : [known.role, slot ? `slot ${slot}` : undefined];
  const said = parts.filter(Boolean).join(', ');
  return said ? `${known.id} (${said})` : known.id;
}

// ---------------------------------------------------------------------------------------------------------------
// A failover's timeline

interface Timeline {
  readonly detectedAt?: number;
  readonly confirmedAt?: number;
  readonly trafficMovedAt?: number;
  readonly redundancyRestoredAt?: number;
  readonly alarmName?: string;
}

function failoverTimeline(facts: Facts, request: Json): Timeline | undefined {
  const time = (key: string) => {
    const value = facts.firstSeen.get(key)?.value;
    return typeof value === 'string' ? millis(value) : undefined;
  };
  const detectedAt = time('request.detectedAt') ?? millis(text(request.detectedAt));
  if (detectedAt === undefined && !facts.lost) return undefined;
  return {
    ...(detectedAt !== undefined ? { detectedAt } : {}),
    ...(facts.lost ? { confirmedAt: time('loss.assessedAt') ?? facts.lost.at } : {}),
    ...(time('moved.shiftedAt') !== undefined ? { trafficMovedAt: time('moved.shiftedAt') } : {}),
    ...(time('restored.shiftedAt') !== undefined ? { redundancyRestoredAt: time('restored.shiftedAt') } : {}),
    ...(text(request.alarmName) ? { alarmName: text(request.alarmName) } : {}),
  };
}

function timelineMarkers(timeline: Timeline, facts: Facts, seconds: (ms: number) => number, started: number): Marker[] {
  const markers: Marker[] = [];
  if (timeline.detectedAt !== undefined) {
    // The alarm goes off before the execution starts: the marker sits at the start and says how long before.
    const lead = (started - timeline.detectedAt) / 1000;
    markers.push({
      at: seconds(timeline.detectedAt),
      kind: 'alarm',
      label:
        `loss detected${timeline.alarmName ? ` (${timeline.alarmName})` : ''}` +
        (lead > 0.0005 ? `, ${lead.toFixed(1)} s before the execution started` : ''),
    });
  }
  if (timeline.confirmedAt !== undefined) {
    const lost = facts.lost;
    markers.push({
      at: seconds(timeline.confirmedAt),
      kind: 'detected',
      label: `loss confirmed${lost ? `: ${lost.instanceId}${lost.slot ? ` (slot ${lost.slot})` : ''}` : ''}`,
    });
  }
  if (timeline.redundancyRestoredAt !== undefined) {
    const adopted = facts.adopted;
    markers.push({
      at: seconds(timeline.redundancyRestoredAt),
      kind: 'redundancy',
      label: `redundancy restored${adopted ? `: ${adopted.instanceId}${adopted.slot ? ` in slot ${adopted.slot}` : ''}` : ''}`,
    });
  }
  return markers;
}

// ---------------------------------------------------------------------------------------------------------------
// Summary

function summaryOf(run: {
  workflow: string;
  status: string;
  end: number;
  visits: readonly Visit[];
  ending: Ending | undefined;
  execution: ExecutionRecord;
  timeline: Timeline | undefined;
  facts: Facts;
  metrics: ExecutionMetrics | undefined;
}): SummaryFigure[] {
  const { visits, ending, timeline, facts } = run;
  const rolledBack = visits.some((visit) => visit.rollback) && run.status !== 'SUCCEEDED';
  const figures: SummaryFigure[] = [
    { label: 'workflow', value: run.workflow },
    {
      label: 'status',
      value: `${run.status}${rolledBack ? ' after rolling back' : ''}`,
      ok: run.status === 'SUCCEEDED',
    },
    { label: 'duration', value: `${run.end.toFixed(1)} s` },
  ];
  const retried = visits.filter((visit) => visit.retries > 0);
  figures.push({
    label: 'states entered',
    value:
      `${visits.length}` +
      (retried.length > 0
        ? `, ${retried.reduce((sum, visit) => sum + visit.retries, 0)} retries (${[...new Set(retried.map((visit) => visit.name))].join(', ')})`
        : ''),
  });
  if (timeline?.detectedAt !== undefined) {
    const since = (value: number | undefined) =>
      value === undefined ? undefined : `${((value - (timeline.detectedAt ?? 0)) / 1000).toFixed(1)} s after the alarm`;
    const steps: [string, number | undefined][] = [
      ['loss confirmed', timeline.confirmedAt],
      ['traffic moved', timeline.trafficMovedAt],
      ['redundancy restored', timeline.redundancyRestoredAt],
    ];
    for (const [label, value] of steps) {
      const said = since(value);
      if (said) figures.push({ label, value: said });
    }
  }
  const serving = facts.shifts.filter((shift) => shift.servingAfter !== undefined);
  if (serving.length > 0) {
    const fewest = serving.reduce((low, shift) => ((shift.servingAfter ?? 0) < (low.servingAfter ?? 0) ? shift : low));
    const required = fewest.requiredServing;
    figures.push({
      label: 'fewest healthy serving nodes after a shift',
      value: `${fewest.servingAfter}${required !== undefined ? ` (at least ${required} required)` : ''}`,
      ...(required !== undefined ? { ok: (fewest.servingAfter ?? 0) >= required } : {}),
    });
  }
  const healthy = run.metrics?.healthyServing ?? [];
  if (healthy.length > 0) {
    figures.push({
      label: 'fewest healthy serving nodes (HealthyServingNodes metric)',
      value: String(Math.min(...healthy.map((point) => point.value))),
    });
  }
  if (ending?.error) figures.push({ label: 'error', value: ending.error, ok: false });
  if (ending?.cause) figures.push({ label: 'cause', value: oneLine(ending.cause) });
  return figures;
}
