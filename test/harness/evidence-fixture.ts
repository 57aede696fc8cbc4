import type { ExecutionLane, Marker, NodeLane, RunEvidence, StateKind, TrafficSeries } from '../../report/evidence';

/**
 * Two runs' evidence as the sandbox would leave it, for the HTML report's tests: a patch under load on the
 * 2-node active/passive test cluster (nodes in slots a and b, a surge node standing by), and the active node
 * killed under load and failed over. The traffic is worked out from the weights the load balancer used and which
 * nodes were alive, second by second, so the charts tell the same story as the lanes and the markers.
 */

const WORKER = 'i-0a1b2c3d4e5f60001';
const MANAGER = 'i-0a1b2c3d4e5f60002';
const SURGE = 'i-0a1b2c3d4e5f60003';
const REPLACEMENT = 'i-0a1b2c3d4e5f60004';

type Weights = Readonly<Record<string, number>>;

interface LoadModel {
  readonly requestsPerSecond: number;
  readonly seconds: number;
  /** The weights the load balancer used, from each time on (the first from 0). */
  readonly weightsInUse: readonly { readonly at: number; readonly weights: Weights }[];
  /** The node behind each slot. */
  readonly nodeOfSlot: Readonly<Record<string, string>>;
  /** Nodes that died, and when: requests sent to them from then on fail. */
  readonly diedAt?: Readonly<Record<string, number>>;
}

/**
 * Requests per second by the node that answered them, and failed ones: each second is split into tenths, each
 * tenth's requests go to the slots by the weights in use, and a dead node's share fails. A fixed-seed jitter makes
 * the lines look measured without making the fixture change between runs.
 */
function trafficOf(model: LoadModel): TrafficSeries {
  const random = seededRandom(42);
  const at: number[] = [];
  const byNode: Record<string, number[]> = Object.fromEntries(
    Object.values(model.nodeOfSlot).map((node): [string, number[]] => [node, []]),
  );
  const failed: number[] = [];
  for (let second = 0; second < model.seconds; second++) {
    const sent = model.requestsPerSecond * (0.96 + 0.08 * random());
    const answered: Record<string, number> = {};
    let lost = 0;
    for (let tenth = 0; tenth < 10; tenth++) {
      const t = second + tenth / 10;
      const weights = weightsAt(model.weightsInUse, t);
      const total = Object.values(weights).reduce((sum, weight) => sum + weight, 0);
      for (const [slot, weight] of Object.entries(weights)) {
        const node = model.nodeOfSlot[slot];
        if (!node || total === 0 || weight === 0) continue;
        const share = (sent / 10) * (weight / total);
        if (t >= (model.diedAt?.[node] ?? Number.POSITIVE_INFINITY)) lost += share;
        else answered[node] = (answered[node] ?? 0) + share;
      }
    }
    at.push(second);
    for (const [node, counts] of Object.entries(byNode)) counts.push(Math.round(answered[node] ?? 0));
    failed.push(Math.round(lost));
  }
  return { at, byNode, failed };
}

function weightsAt(changes: LoadModel['weightsInUse'], t: number): Weights {
  let current = changes[0]?.weights ?? {};
  for (const change of changes) if (change.at <= t) current = change.weights;
  return current;
}

/** A small linear congruential generator: the same numbers on every run. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) % 2 ** 32;
    return state / 2 ** 32;
  };
}

type State = ExecutionLane['states'][number];

/** States one after the other from `start`: each [name, kind, seconds], with retries and the rollback flag as given. */
function sequence(
  start: number,
  steps: readonly (readonly [string, StateKind, number, { retries?: number; rollback?: boolean }?])[],
): State[] {
  let at = start;
  return steps.map(([name, kind, seconds, flags]) => {
    const state = {
      name,
      kind,
      from: at,
      to: at + seconds,
      retries: flags?.retries ?? 0,
      rollback: flags?.rollback ?? false,
    };
    at += seconds;
    return state;
  });
}

const STEADY = { a: 100, b: 0, surge: 0 };
const ON_B = { a: 0, b: 100, surge: 0 };

/**
 * patch-server on the active/passive cluster: the surge node stands by as the spare, the passive node (b) is
 * patched, the traffic moves to it, the active node (a) is drained, restarted with the patch and takes the traffic
 * back, and the surge node is retired. Launching the surge node was throttled once and retried.
 */
export function patchEvidence(): RunEvidence {
  const patch = sequence(10, [
    ['Validate the request', 'task', 0.4],
    ['Read the cluster', 'task', 0.5],
    ['Is this a dry run?', 'choice', 0],
    ['Acquire the cluster lock', 'task', 0.6],
    ['Snapshot the cluster', 'task', 0.7],
    ['Plan the patch', 'task', 0.6],
    ['Launch the surge node', 'task', 2.2, { retries: 1 }],
    ['Wait before polling again: the surge node to be ready', 'wait', 19],
    ['Check whether the surge node is ready', 'task', 1],
    ['Verify the surge node', 'task', 2],
    ['Which topology?', 'choice', 0],
    ['Patch the passive node', 'task', 14],
    ['Verify the passive node', 'task', 2],
    ['Shift traffic to the patched node', 'task', 1.2],
    ['Let connections drain: Shift traffic to the patched node', 'wait', 6.8],
    ['Patch the other node', 'task', 16],
    ['Verify the other node', 'task', 2],
    ['Shift traffic back', 'task', 1.2],
    ['Let connections drain: Shift traffic back', 'wait', 6.8],
    ['Deregister the surge node', 'task', 1],
    ['Terminate the surge node', 'task', 2],
    ["Record the cluster's version", 'task', 1],
    ['Release the cluster lock', 'task', 1],
    ['Report success', 'task', 0.6],
    ['Patch succeeded', 'succeed', 0],
  ]);
  const at = (name: string) => patch.find((state) => state.name === name)?.from ?? 0;
  const toB = at('Shift traffic to the patched node') + 1;
  const backToA = at('Shift traffic back') + 1;
  // The load balancer uses new weights a fraction of a second after the listener has them.
  const movedToB = toB + 0.4;
  const movedBackToA = backToA + 0.4;
  const surgeUp = at('Launch the surge node') + 1;
  const surgeGone = at('Terminate the surge node') + 1.5;
  const nodes: NodeLane[] = [
    {
      id: WORKER,
      label: `${WORKER} (worker, slot a)`,
      phases: [
        { from: 0, to: movedToB, phase: 'serving' },
        { from: movedToB, to: at('Patch the other node') + 1, phase: 'draining' },
        { from: at('Patch the other node') + 1, to: at('Verify the other node') - 0.5, phase: 'restarting' },
        { from: at('Verify the other node') - 0.5, to: movedBackToA, phase: 'standby' },
        { from: movedBackToA, to: 120, phase: 'serving' },
      ],
    },
    {
      id: MANAGER,
      label: `${MANAGER} (manager, slot b)`,
      phases: [
        { from: 0, to: at('Patch the passive node') + 1, phase: 'standby' },
        { from: at('Patch the passive node') + 1, to: at('Verify the passive node') - 0.5, phase: 'restarting' },
        { from: at('Verify the passive node') - 0.5, to: movedToB, phase: 'standby' },
        { from: movedToB, to: movedBackToA, phase: 'serving' },
        { from: movedBackToA, to: movedBackToA + 6, phase: 'draining' },
        { from: movedBackToA + 6, to: 120, phase: 'standby' },
      ],
    },
    {
      id: SURGE,
      label: `${SURGE} (surge node of the patch)`,
      phases: [
        { from: surgeUp, to: at('Check whether the surge node is ready') + 0.5, phase: 'booting' },
        // Terminated by the patch: its lane ends there.
        { from: at('Check whether the surge node is ready') + 0.5, to: surgeGone, phase: 'standby' },
      ],
    },
  ];
  const weights = [
    { at: 0, weights: STEADY },
    { at: toB, weights: ON_B },
    { at: backToA, weights: STEADY },
  ];
  const markers: Marker[] = [
    { at: 10, kind: 'note', label: 'patch-server started (P42)' },
    { at: toB, kind: 'weights-written', label: 'weights: all to slot b' },
    { at: movedToB, kind: 'weights-moved', label: 'load balancer on slot b' },
    { at: backToA, kind: 'weights-written', label: 'weights: back to slot a' },
    { at: movedBackToA, kind: 'weights-moved', label: 'load balancer on slot a' },
    { at: movedBackToA + 6, kind: 'redundancy', label: 'both nodes patched, b on standby' },
    { at: at('Patch succeeded'), kind: 'note', label: 'patch succeeded' },
  ];
  const traffic = trafficOf({
    requestsPerSecond: 150,
    seconds: 120,
    weightsInUse: [
      { at: 0, weights: STEADY },
      { at: movedToB, weights: ON_B },
      { at: movedBackToA, weights: STEADY },
    ],
    nodeOfSlot: { a: WORKER, b: MANAGER, surge: SURGE },
  });
  const requests = traffic.at.reduce(
    (sum, _, i) => sum + Object.values(traffic.byNode).reduce((nodes, counts) => nodes + (counts[i] ?? 0), 0),
    0,
  );
  return {
    title: 'patch-server on a 2-node active/passive cluster under live traffic',
    subtitle: 'cluster sandbox · active/passive · 2 nodes and a surge node · sandbox run at time scale 0.1',
    generatedAt: '2025-03-14T09:26:53.000Z',
    timeUnit: 'scenario seconds',
    span: { from: 0, to: 120 },
    traffic,
    weights,
    nodes,
    executions: [
      {
        id: 'arn:aws:states:us-east-1:123456789012:execution:zerodown-sandbox-patch-server:scenario-step-1',
        workflow: 'patch-server',
        trigger: 'scenario step at 10 s',
        status: 'SUCCEEDED',
        states: patch,
      },
    ],
    markers,
    summary: [
      { label: 'Workflow', value: 'patch-server SUCCEEDED', ok: true },
      { label: 'Requests', value: requests.toLocaleString('en-US') },
      { label: 'Failed requests', value: '0', ok: true },
      { label: 'Availability', value: '100.000 %', ok: true },
      { label: 'Lowest serving capacity', value: '1 of 1 active node', ok: true },
      { label: 'Run time', value: `${Math.round(at('Patch succeeded') - 10)} scenario s` },
    ],
    expectations: [
      { what: 'executions', expected: 'SUCCEEDED', actual: 'SUCCEEDED', holds: true },
      { what: 'failed requests', expected: 'at most 0', actual: '0', holds: true },
      { what: 'requests', expected: 'at least 2000', actual: String(requests), holds: true },
      { what: 'final version', expected: '1.0.0-P42', actual: '1.0.0-P42', holds: true },
      { what: 'surge nodes left', expected: '0', actual: '0', holds: true },
    ],
  };
}

/**
 * The active node (a) killed under load: its peer watch on b sees it first, failover confirms the loss, takes the
 * lock and moves the traffic to b, then launches a replacement that ends as the passive node in slot a. Requests
 * sent to a fail from its death until the load balancer uses the new weights, and only then.
 */
export function failoverEvidence(): RunEvidence {
  const died = 10;
  const failover = sequence(13.6, [
    ['Is the input an alarm of a slot?', 'choice', 0],
    ['Read the alarm', 'pass', 0.1],
    ['Confirm the node loss', 'task', 1.4, { retries: 2 }],
    ['Is the node lost?', 'choice', 0],
    ['Take over the cluster lock', 'task', 0.8],
    ['Read the cluster lock', 'task', 0.4],
    ['Is the node under maintenance?', 'choice', 0],
    ['Work out the move under the lock', 'task', 0.5],
    ['Move traffic to the survivors', 'task', 0.5],
    ['Report the traffic move', 'task', 0.4],
    ['Is a standby ready to take the slot?', 'choice', 0],
    ['Launch the replacement node', 'task', 3.3],
    ['Wait before polling again: the replacement node to be ready', 'wait', 22],
    ['Check whether the replacement node is ready', 'task', 1],
    ['Verify the replacement node', 'task', 3],
    ['Adopt the replacement into the slot', 'task', 3],
    ['Check whether the node in its slot is ready', 'task', 5],
    ['Restore the steady weights', 'task', 1],
    ['Reconfigure every node', 'task', 1.5],
    ['Release the cluster lock', 'task', 0.6],
    ['Report the failover', 'task', 0.5],
    ['Failover succeeded', 'succeed', 0],
  ]);
  const at = (name: string) => failover.find((state) => state.name === name)?.from ?? 0;
  const written = at('Move traffic to the survivors') + 0.4;
  const moved = written + 0.8;
  const launched = at('Wait before polling again: the replacement node to be ready');
  const ready = at('Check whether the replacement node is ready') + 0.5;
  const adopted = at('Restore the steady weights');
  const traffic = trafficOf({
    requestsPerSecond: 100,
    seconds: 120,
    weightsInUse: [
      { at: 0, weights: STEADY },
      { at: moved, weights: ON_B },
    ],
    nodeOfSlot: { a: WORKER, b: MANAGER },
    diedAt: { [WORKER]: died },
  });
  const failed = traffic.failed.reduce((sum, count) => sum + count, 0);
  return {
    title: 'the active node of a 2-node active/passive cluster dies under live traffic',
    subtitle:
      'cluster sandbox · active/passive · 2 nodes · kill-node on the worker at 10 s · sandbox run at time scale 0.5',
    generatedAt: '2025-03-14T10:02:11.000Z',
    timeUnit: 'scenario seconds',
    span: { from: 0, to: 120 },
    traffic,
    weights: [
      { at: 0, weights: STEADY },
      { at: written, weights: ON_B },
    ],
    nodes: [
      {
        id: WORKER,
        label: `${WORKER} (worker, slot a)`,
        phases: [
          { from: 0, to: died, phase: 'serving' },
          { from: died, to: adopted, phase: 'dead' },
          { from: adopted, to: 120, phase: 'replaced' },
        ],
      },
      {
        id: MANAGER,
        label: `${MANAGER} (manager, slot b)`,
        phases: [
          { from: 0, to: moved, phase: 'standby' },
          { from: moved, to: 120, phase: 'serving' },
        ],
      },
      {
        id: REPLACEMENT,
        label: `${REPLACEMENT} (replacement, slot a)`,
        phases: [
          { from: launched - 1, to: ready, phase: 'booting' },
          { from: ready, to: at('Adopt the replacement into the slot'), phase: 'unhealthy' },
          { from: at('Adopt the replacement into the slot'), to: 120, phase: 'standby' },
        ],
      },
    ],
    executions: [
      {
        id: 'arn:aws:states:us-east-1:123456789012:execution:zerodown-sandbox-failover:peer-i-0a1b2c3d4e5f60002',
        workflow: 'failover',
        trigger: `peer watch on ${MANAGER}`,
        status: 'SUCCEEDED',
        states: failover,
      },
    ],
    markers: [
      { at: died, kind: 'fault', label: 'kill-node: worker (slot a)' },
      { at: 13.4, kind: 'detected', label: 'loss detected by the peer watch' },
      { at: written, kind: 'weights-written', label: 'weights: all to slot b' },
      { at: moved, kind: 'weights-moved', label: 'load balancer on slot b' },
      { at: 31, kind: 'alarm', label: 'heartbeat alarm of slot a: ALARM' },
      { at: adopted, kind: 'redundancy', label: 'replacement adopted into slot a' },
    ],
    summary: [
      { label: 'Workflow', value: 'failover SUCCEEDED', ok: true },
      { label: 'Detected by', value: 'peer watch', ok: true },
      { label: 'Recovery time (death to traffic moved)', value: `${(moved - died).toFixed(1)} s` },
      { label: 'Failed requests', value: String(failed) },
      { label: 'Failed outside the failover window', value: '0', ok: true },
      { label: 'Healthy nodes at the end', value: '2', ok: true },
    ],
    expectations: [
      { what: 'alarm executions', expected: 'SUCCEEDED', actual: 'SUCCEEDED', holds: true },
      { what: 'surge nodes left', expected: '0', actual: '0', holds: true },
      { what: 'healthy nodes', expected: '2', actual: '2', holds: true },
      { what: 'failed requests outside the failover window', expected: 'at most 0', actual: '0', holds: true },
      { what: 'detected by', expected: 'peer', actual: 'peer', holds: true },
    ],
  };
}

/** Text that would run a script or open a tag if any part of the report put it into the page as markup. */
export const HOSTILE_TEXT = '</script><script>alert(1)</script> <b>bold</b> <!-- & "quoted" \'single\'';

/** The patch's evidence with hostile text in every text the report shows: names, labels, figures, expectations. */
export function hostileEvidence(): RunEvidence {
  const evidence = patchEvidence();
  return {
    ...evidence,
    title: `patch ${HOSTILE_TEXT}`,
    subtitle: HOSTILE_TEXT,
    generatedAt: HOSTILE_TEXT,
    weights: evidence.weights.map((change) => ({ ...change, weights: { ...change.weights, [HOSTILE_TEXT]: 0 } })),
    nodes: evidence.nodes.map((node) => ({ ...node, label: `${node.id} ${HOSTILE_TEXT}` })),
    executions: evidence.executions.map((execution) => ({
      ...execution,
      workflow: HOSTILE_TEXT,
      trigger: HOSTILE_TEXT,
      status: HOSTILE_TEXT,
      states: execution.states.map((state) => ({ ...state, name: `${state.name} ${HOSTILE_TEXT}` })),
    })),
    markers: evidence.markers.map((marker) => ({ ...marker, label: HOSTILE_TEXT })),
    summary: [...evidence.summary, { label: HOSTILE_TEXT, value: HOSTILE_TEXT, ok: false }],
    expectations: [{ what: HOSTILE_TEXT, expected: HOSTILE_TEXT, actual: HOSTILE_TEXT, holds: false }],
  };
}
