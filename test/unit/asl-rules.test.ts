import type { AslDefinition } from '../../local/asl';
import {
  boundedLoops,
  boundedRetryAll,
  catchAfterLock,
  checkWorkflowRules,
  hasFailState,
  knownErrorNames,
  positiveTypeTests,
  readableStateNames,
  stateMachineTimeout,
  stateNameLength,
  taskTimeouts,
  uniqueStateNames,
} from '../harness/asl-rules';

const LAMBDA = 'arn:aws:lambda:us-east-1:123456789012:function:Ops';
const task = (next: string, extra: Record<string, unknown> = {}) => ({
  Type: 'Task',
  Resource: LAMBDA,
  TimeoutSeconds: 30,
  Next: next,
  Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Roll back' }],
  ...extra,
});

/** A compliant workflow: validate, lock, a bounded poll loop, a Map, and a rollback path. */
function compliant(): AslDefinition {
  return {
    StartAt: 'Validate input',
    TimeoutSeconds: 3600,
    States: {
      'Validate input': { Type: 'Task', Resource: LAMBDA, TimeoutSeconds: 30, Next: 'Acquire cluster lock' },
      'Acquire cluster lock': { Type: 'Task', Resource: LAMBDA, TimeoutSeconds: 30, Next: 'Poll command' },
      'Poll command': task('Is the command done?'),
      'Is the command done?': {
        Type: 'Choice',
        Choices: [
          { Variable: '$.poll.done', BooleanEquals: true, Next: 'Verify every node' },
          { Variable: '$.poll.attempts', NumericGreaterThan: 10, Next: 'Roll back' },
        ],
        Default: 'Wait for the command',
      },
      'Wait for the command': { Type: 'Wait', Seconds: 5, Next: 'Poll command' },
      'Verify every node': {
        Type: 'Map',
        ItemsPath: '$.nodes',
        ItemProcessor: {
          StartAt: 'Verify one node',
          States: { 'Verify one node': { Type: 'Task', Resource: LAMBDA, TimeoutSeconds: 30, End: true } },
        },
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Roll back' }],
        Next: 'Release cluster lock',
      },
      'Release cluster lock': task('Workflow succeeded'),
      'Workflow succeeded': { Type: 'Succeed' },
      'Roll back': {
        Type: 'Task',
        Resource: LAMBDA,
        TimeoutSeconds: 60,
        Next: 'Workflow failed',
        Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Workflow failed' }],
      },
      'Workflow failed': { Type: 'Fail', Error: 'HealthCheckFailedError' },
    },
  } as unknown as AslDefinition;
}

function modified(
  change: (states: Record<string, Record<string, unknown>>, definition: Record<string, unknown>) => void,
) {
  const definition = structuredClone(compliant()) as unknown as Record<string, unknown>;
  change(definition.States as Record<string, Record<string, unknown>>, definition);
  return definition as unknown as AslDefinition;
}

describe('workflow ASL rules', () => {
  it('pass a compliant workflow', () => {
    expect(checkWorkflowRules(compliant())).toEqual([]);
  });

  it.each([
    ['state-machine-timeout', stateMachineTimeout, modified((_, d) => delete d.TimeoutSeconds), /no TimeoutSeconds/],
    ['task-timeouts', taskTimeouts, modified((s) => delete s['Poll command']?.TimeoutSeconds), /"Poll command"/],
    [
      'catch-after-lock (own Catch)',
      catchAfterLock,
      modified((s) => delete s['Release cluster lock']?.Catch),
      /"Release cluster lock" does not catch/,
    ],
    [
      'catch-after-lock (through the Map)',
      catchAfterLock,
      modified((s) => delete s['Verify every node']?.Catch),
      /"Verify one node" does not catch/,
    ],
    [
      'bounded-retry-all',
      boundedRetryAll,
      modified((s) =>
        Object.assign(s['Poll command'] ?? {}, { Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 10 }] }),
      ),
      /retries States.ALL 10 times/,
    ],
    [
      'bounded-loops',
      boundedLoops,
      modified((s) => {
        const choice = s['Is the command done?'] as { Choices: unknown[] };
        choice.Choices = choice.Choices.slice(0, 1);
      }),
      /loop through .*"Poll command"/,
    ],
    [
      'has-fail-state',
      hasFailState,
      modified((s) => Object.assign(s['Workflow failed'] ?? {}, { Type: 'Succeed' })),
      /no Fail/,
    ],
    [
      'readable-state-names',
      readableStateNames,
      modified((s) => {
        s.Task3 = s['Workflow succeeded'] ?? {};
      }),
      /"Task3"/,
    ],
    [
      'state-name-length',
      stateNameLength,
      modified((s) => {
        s[`Check ${'x'.repeat(80)}`] = s['Workflow succeeded'] ?? {};
      }),
      /is 86 characters long/,
    ],
    [
      'positive-type-tests',
      positiveTypeTests,
      modified((s) => {
        const choice = s['Is the command done?'] as { Choices: Record<string, unknown>[] };
        choice.Choices.push({ Variable: '$.poll', IsPresent: false, Next: 'Roll back' });
      }),
      /tests IsPresent: false/,
    ],
  ])('%s reports a violation', (_id, rule, definition, message) => {
    expect(rule.check(compliant())).toEqual([]);
    const violations = rule.check(definition);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(message);
  });

  it('known-error-names reports a misspelt error in a Catch and in a Fail state', () => {
    const definition = compliant();
    const misspelt: AslDefinition = {
      ...definition,
      States: {
        ...definition.States,
        'Poll command': task('Is the command done?', {
          Catch: [{ ErrorEquals: ['CommandFailed'], Next: 'Roll back' }],
        }),
        'Fail the workflow': { Type: 'Fail', Error: 'HealthCheckError' },
      },
    };

    expect(knownErrorNames.check(definition)).toEqual([]);
    expect(knownErrorNames.check(misspelt)).toEqual([
      'state "Poll command" names the unknown error "CommandFailed"',
      'state "Fail the workflow" names the unknown error "HealthCheckError"',
    ]);
  });

  it('unique-state-names reports a name used in a Map body and at the top level', () => {
    const definition = modified((s) => {
      const map = s['Verify every node'] as { ItemProcessor: { States: Record<string, unknown> } };
      map.ItemProcessor.States['Roll back'] = { Type: 'Succeed' };
    });
    expect(uniqueStateNames.check(definition)).toEqual(['state "Roll back" appears more than once']);
  });

  it('accepts a loop bounded by a timestamp deadline', () => {
    const definition = modified((s) => {
      const choice = s['Is the command done?'] as { Choices: Record<string, unknown>[] };
      choice.Choices = [
        choice.Choices[0] ?? {},
        { Variable: '$$.State.EnteredTime', TimestampGreaterThanPath: '$.until', Next: 'Roll back' },
      ];
    });
    expect(boundedLoops.check(definition)).toEqual([]);
  });
});
