import { ErrorName } from '../../functions/domain/errors';
import { type AslDefinition, type AslState, allStates } from '../../local/asl';

/**
 * The rules every zerodown state machine must pass (docs/architecture.md), checked over the synthesized ASL. Each rule
 * returns the violations it found, each naming the state.
 */
export interface AslRule {
  readonly id: string;
  /** One line: what the rule demands and why. */
  readonly description: string;
  check(definition: AslDefinition): string[];
}

const MAX_RETRY_ALL_ATTEMPTS = 3;
/** A Retry without MaxAttempts makes 3 attempts (the ASL default). */
const DEFAULT_MAX_ATTEMPTS = 3;
const BOUND_VARIABLE = /attempt|count|deadline|expire|remaining|budget/i;
const GENERIC_NAME = /^(task|state|step|pass|choice|wait|map|parallel|lambda|invoke)[\s_-]*\d*$/i;

function successors(state: AslState): string[] {
  const next = [state.Next, state.Default, ...(state.Choices ?? []).map((choice) => choice.Next as string)];
  return next.filter((name): name is string => typeof name === 'string');
}

function errorTargets(state: AslState): string[] {
  return (state.Catch ?? []).map((catcher) => catcher.Next);
}

/** Names of the states reachable from `start` in the same scope, through normal transitions and Catch. */
function reachableFrom(scope: AslDefinition, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const state = scope.States[name];
    if (state) queue.push(...successors(state), ...errorTargets(state));
  }
  return seen;
}

const hasCatchAll = (state: AslState) =>
  (state.Catch ?? []).some((catcher) =>
    catcher.ErrorEquals.some((error) => ['States.ALL', 'States.TaskFailed'].includes(error)),
  );

export const stateMachineTimeout: AslRule = {
  id: 'state-machine-timeout',
  description: 'The state machine has TimeoutSeconds, so no execution can run forever.',
  check: (definition) => (definition.TimeoutSeconds ? [] : ['the state machine has no TimeoutSeconds']),
};

export const taskTimeouts: AslRule = {
  id: 'task-timeouts',
  description: 'Every Task has TimeoutSeconds: a hung Lambda or API call fails the step instead of stalling.',
  check: (definition) =>
    allStates(definition)
      .filter(({ state }) => state.Type === 'Task' && !state.TimeoutSeconds && !state.TimeoutSecondsPath)
      .map(({ name }) => `Task "${name}" has no TimeoutSeconds`),
};

/**
 * Once the lock is held, every failure must reach Rollback: each Task (or the Map/Parallel around it) catches
 * States.ALL. Tasks before the lock may fail the execution directly, since nothing has been touched. A machine with
 * no lock step is held to the rule everywhere after its first state.
 */
export const catchAfterLock: AslRule = {
  id: 'catch-after-lock',
  description: 'Every Task after the lock is taken catches States.ALL (itself or through its Map/Parallel).',
  check: (definition) => {
    const violations: string[] = [];
    const lockState = Object.keys(definition.States).find((name) => /^(acquire|take over) .*lock/i.test(name));
    const guarded = lockState
      ? new Set([...reachableFrom(definition, lockState)].filter((name) => name !== lockState))
      : new Set(Object.keys(definition.States).filter((name) => name !== definition.StartAt));

    const visit = (scope: AslDefinition, inGuardedScope: boolean, coveredByParent: boolean) => {
      for (const [name, state] of Object.entries(scope.States)) {
        const isGuarded = inGuardedScope || (scope === definition && guarded.has(name));
        if (!isGuarded) continue;
        const covered = coveredByParent || hasCatchAll(state);
        if (state.Type === 'Task' && !covered) violations.push(`Task "${name}" does not catch States.ALL`);
        for (const inner of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) {
          if (inner) visit(inner, true, covered);
        }
      }
    };
    visit(definition, false, false);
    return violations;
  },
};

export const boundedRetryAll: AslRule = {
  id: 'bounded-retry-all',
  description: `No Retry on States.ALL makes more than ${MAX_RETRY_ALL_ATTEMPTS} attempts: bugs must not be retried away.`,
  check: (definition) =>
    allStates(definition).flatMap(({ name, state }) =>
      (state.Retry ?? [])
        .filter((retrier) => retrier.ErrorEquals.includes('States.ALL'))
        .filter((retrier) => (retrier.MaxAttempts ?? DEFAULT_MAX_ATTEMPTS) > MAX_RETRY_ALL_ATTEMPTS)
        .map((retrier) => `"${name}" retries States.ALL ${retrier.MaxAttempts} times`),
    ),
};

function choiceChecksBound(state: AslState): boolean {
  const mentionsBound = (rule: Record<string, unknown>): boolean => {
    if (typeof rule.Variable === 'string' && BOUND_VARIABLE.test(rule.Variable)) return true;
    if (Object.keys(rule).some((key) => key.startsWith('Timestamp'))) return true;
    const nested = [
      ...((rule.And as Record<string, unknown>[]) ?? []),
      ...((rule.Or as Record<string, unknown>[]) ?? []),
    ];
    if (rule.Not) nested.push(rule.Not as Record<string, unknown>);
    return nested.some(mentionsBound);
  };
  return state.Type === 'Choice' && (state.Choices ?? []).some(mentionsBound);
}

/** Strongly connected components of one scope's transition graph (Tarjan), keeping only the real cycles. */
function cycles(scope: AslDefinition): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowLinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];

  const connect = (name: string) => {
    indices.set(name, index);
    lowLinks.set(name, index);
    index++;
    stack.push(name);
    onStack.add(name);
    const state = scope.States[name];
    for (const next of state ? [...successors(state), ...errorTargets(state)] : []) {
      if (!indices.has(next)) {
        connect(next);
        lowLinks.set(name, Math.min(lowLinks.get(name) ?? 0, lowLinks.get(next) ?? 0));
      } else if (onStack.has(next)) {
        lowLinks.set(name, Math.min(lowLinks.get(name) ?? 0, indices.get(next) ?? 0));
      }
    }
    if (lowLinks.get(name) === indices.get(name)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== name);
      const selfLoop = state ? [...successors(state), ...errorTargets(state)].includes(name) : false;
      if (component.length > 1 || selfLoop) components.push(component);
    }
  };
  for (const name of Object.keys(scope.States)) if (!indices.has(name)) connect(name);
  return components;
}

export const boundedLoops: AslRule = {
  id: 'bounded-loops',
  description: 'Every loop passes a Choice that checks a deadline or an attempt count.',
  check: (definition) => {
    const scopes = [
      definition,
      ...allStates(definition).flatMap(({ state }) =>
        [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter((s): s is AslDefinition => !!s),
      ),
    ];
    return scopes.flatMap((scope) =>
      cycles(scope)
        .filter((loop) => !loop.some((name) => choiceChecksBound(scope.States[name] as AslState)))
        .map((loop) => `the loop through ${loop.map((name) => `"${name}"`).join(', ')} checks no deadline or count`),
    );
  },
};

export const hasFailState: AslRule = {
  id: 'has-fail-state',
  description: 'At least one Fail state, so failures end as failed executions with a named error.',
  check: (definition) =>
    allStates(definition).some(({ state }) => state.Type === 'Fail') ? [] : ['the state machine has no Fail state'],
};

export const readableStateNames: AslRule = {
  id: 'readable-state-names',
  description: 'State names read as what they do ("Patch passive node"), not "Task3".',
  check: (definition) =>
    allStates(definition)
      .filter(({ name }) => GENERIC_NAME.test(name.trim()) || name.trim().split(/\s+/).length < 2)
      .map(({ name }) => `state "${name}" does not say what it does`),
};

const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'];

/**
 * aws-local-stepfunctions 3 evaluates `IsNull: false` (and every other type test set to false) as false whatever
 * the value, so the local runs would take another path than AWS. `Not` around the `true` form means the same and
 * runs the same in both.
 */
export const positiveTypeTests: AslRule = {
  id: 'positive-type-tests',
  description: 'Type tests (IsNull, IsPresent, ...) are written as true, negated with Not, never as false.',
  check: (definition) => {
    const offending = (rule: Record<string, unknown>): string[] => [
      ...TYPE_TESTS.filter((test) => rule[test] === false),
      ...[
        ...((rule.And as Record<string, unknown>[]) ?? []),
        ...((rule.Or as Record<string, unknown>[]) ?? []),
      ].flatMap(offending),
      ...(rule.Not ? offending(rule.Not as Record<string, unknown>) : []),
    ];
    return allStates(definition).flatMap(({ name, state }) =>
      (state.Choices ?? []).flatMap(offending).map((test) => `Choice "${name}" tests ${test}: false`),
    );
  },
};

/** The Amazon States Language limit. */
const MAX_STATE_NAME_LENGTH = 80;

export const stateNameLength: AslRule = {
  id: 'state-name-length',
  description: `State names are at most ${MAX_STATE_NAME_LENGTH} characters, as Step Functions requires.`,
  check: (definition) =>
    allStates(definition)
      .filter(({ name }) => name.length > MAX_STATE_NAME_LENGTH)
      .map(({ name }) => `state "${name}" is ${name.length} characters long`),
};

export const uniqueStateNames: AslRule = {
  id: 'unique-state-names',
  description: 'State names are unique across the whole machine, Map and Parallel bodies included.',
  check: (definition) => {
    const names = allStates(definition).map(({ name }) => name);
    return [...new Set(names.filter((name, index) => names.indexOf(name) !== index))].map(
      (name) => `state "${name}" appears more than once`,
    );
  },
};

const KNOWN_ERROR_NAMES: ReadonlySet<string> = new Set(Object.values(ErrorName));

export const knownErrorNames: AslRule = {
  id: 'known-error-names',
  description:
    'Every error a Catch names or a Fail state raises is a Step Functions error (States.*) or one of ErrorName, ' +
    'the constants the Lambdas throw by: a misspelt name would never match.',
  check: (definition) =>
    allStates(definition).flatMap(({ name, state }) => {
      const caught = (state.Catch ?? []).flatMap((catcher) => catcher.ErrorEquals);
      const raised = state.Type === 'Fail' && typeof state.Error === 'string' ? [state.Error] : [];
      return [...caught, ...raised]
        .filter((error) => !error.startsWith('States.') && !KNOWN_ERROR_NAMES.has(error))
        .map((error) => `state "${name}" names the unknown error "${error}"`);
    }),
};

export const WORKFLOW_RULES: readonly AslRule[] = [
  stateMachineTimeout,
  taskTimeouts,
  catchAfterLock,
  boundedRetryAll,
  boundedLoops,
  hasFailState,
  readableStateNames,
  stateNameLength,
  uniqueStateNames,
  positiveTypeTests,
  knownErrorNames,
];

export function checkWorkflowRules(definition: AslDefinition, rules = WORKFLOW_RULES): string[] {
  return rules.flatMap((rule) => rule.check(definition).map((violation) => `${rule.id}: ${violation}`));
}
