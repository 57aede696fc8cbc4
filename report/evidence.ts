/**
 * A run's evidence, on one time axis: what the HTML report draws. A sandbox run and a real execution both come to
 * this shape (sandbox/evidence.ts from the sandbox's report, report/from-history.ts from an execution's history and
 * the cluster's metrics), so a rehearsal and the run on AWS leave the same picture.
 *
 * Every time is in seconds since `span.from`'s origin, in the unit `timeUnit` names: a sandbox run counts scenario
 * seconds (the seconds AWS would take), an execution on AWS real seconds.
 */

export interface RunEvidence {
  /** What ran: the scenario's name, or the workflow and its execution. */
  readonly title: string;
  /** One line under the title: the cluster, the topology, when it ran. */
  readonly subtitle: string;
  /** ISO time the evidence was gathered. */
  readonly generatedAt: string;
  readonly timeUnit: 'scenario seconds' | 'seconds';
  /** The time axis every lane shares. */
  readonly span: { readonly from: number; readonly to: number };
  /** Requests answered per second by each node, and failed requests, per one-second bucket. Absent on AWS. */
  readonly traffic?: TrafficSeries;
  /** The listener's weights by slot, each time they changed; the first entry holds from `span.from`. */
  readonly weights: readonly { readonly at: number; readonly weights: Readonly<Record<string, number>> }[];
  /** Each node's life: one lane per node, its phases end to end. */
  readonly nodes: readonly NodeLane[];
  /** Each workflow execution: one lane of its states (a Gantt). */
  readonly executions: readonly ExecutionLane[];
  /** Points in time that explain the rest: faults, alarms, detection, weights moved, redundancy restored. */
  readonly markers: readonly Marker[];
  /** The figures that sum the run up, in order. */
  readonly summary: readonly SummaryFigure[];
  /** The scenario's expectations, where there are any. */
  readonly expectations?: readonly Expectation[];
}

export interface TrafficSeries {
  /** The start of each bucket. */
  readonly at: readonly number[];
  /**
   * How wide a bucket is, in the evidence's time unit: a real second of load is 1 / timeScale scenario seconds in
   * the sandbox. @default 1
   */
  readonly bucketSeconds?: number;
  /** Requests each node answered in each bucket (same length as `at`), by the node's id as its `NodeLane` has it. */
  readonly byNode: Readonly<Record<string, readonly number[]>>;
  /** Requests that failed in each bucket (same length as `at`). */
  readonly failed: readonly number[];
}

export type NodePhase =
  | 'booting'
  | 'serving'
  | 'standby'
  | 'draining'
  | 'restarting'
  | 'unhealthy'
  | 'dead'
  | 'replaced';

export interface NodeLane {
  readonly id: string;
  /** The node as an operator knows it: `i-0abc (manager, slot a)`. */
  readonly label: string;
  readonly phases: readonly { readonly from: number; readonly to: number; readonly phase: NodePhase }[];
}

/** How a state is drawn: its kind, and whether it was on the rollback path or a retry. */
export type StateKind = 'task' | 'wait' | 'choice' | 'pass' | 'parallel' | 'map' | 'succeed' | 'fail';

const STATE_KINDS: Readonly<Record<string, StateKind>> = {
  Task: 'task',
  Wait: 'wait',
  Choice: 'choice',
  Pass: 'pass',
  Parallel: 'parallel',
  Map: 'map',
  Succeed: 'succeed',
  Fail: 'fail',
};

/** The kind of a state of the ASL type given (`Task`, `Wait`, ...); a type it does not know is drawn as a task. */
export function stateKindOf(type: string): StateKind {
  return STATE_KINDS[type] ?? 'task';
}

export interface ExecutionLane {
  readonly id: string;
  readonly workflow: string;
  /** What started it: a scenario step, an alarm, a peer, a rule, an operator. */
  readonly trigger: string;
  readonly status: string;
  readonly states: readonly {
    readonly name: string;
    readonly from: number;
    readonly to: number;
    readonly kind: StateKind;
    /** Entered on the way out of a failure: the rollback or recovery path. */
    readonly rollback: boolean;
    /** How many times the state's task was retried. */
    readonly retries: number;
  }[];
}

export type MarkerKind = 'fault' | 'alarm' | 'detected' | 'weights-written' | 'weights-moved' | 'redundancy' | 'note';

export interface Marker {
  readonly at: number;
  readonly kind: MarkerKind;
  readonly label: string;
}

export interface SummaryFigure {
  readonly label: string;
  readonly value: string;
  /** Whether the figure meets what was asked of it, where something was. */
  readonly ok?: boolean;
}

export interface Expectation {
  readonly what: string;
  readonly expected: string;
  readonly actual: string;
  readonly holds: boolean;
}
