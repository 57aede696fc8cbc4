import * as fs from 'node:fs';
import * as z from 'zod/mini';
import { ZeroDownError } from '../functions/domain/errors';
import { FIELD_ISSUE_PARSING, toFieldIssues } from '../functions/domain/field-issues';
import { WORKFLOW_NAMES, type WorkflowName } from '../functions/domain/workflows';

/**
 * A sandbox scenario: the cluster to build, the load to send, what to start and break when, and what must hold at
 * the end. Times are in scenario seconds, the seconds AWS would take; the sandbox runs them `timeScale` times as fast.
 */

/** The workflows a scenario step starts; failover starts from the node alarms, as deployed. */
export const STARTABLE_WORKFLOWS = WORKFLOW_NAMES.filter((name) => name !== 'failover') as [
  WorkflowName,
  ...WorkflowName[],
];
/**
 * `abort` stops the workflow that entered the step's state, as an operator's StopExecution would. `stop-heartbeat`
 * stops a node's heartbeat publisher while the node goes on serving (its alarm goes to ALARM and stays there).
 * `kill-node` stops the machine: the node and its agents (heartbeat and peer watch). `hang-node` freezes the node's
 * server: connections are accepted and never answered. `partition` cuts the permanent nodes off from each other
 * while the load balancer and zerodown still reach every one. `stop-peer-watch` stops the target's peer watch.
 */
export const FAULTS = [
  'kill-node',
  'hang-node',
  'partition',
  'fail-command',
  'unhealthy',
  'slow-boot',
  'abort',
  'stop-heartbeat',
  'stop-peer-watch',
] as const;

const seconds = z.number().check(z.minimum(0), z.maximum(3600));

const startStep = z.strictObject({
  at: seconds,
  start: z.enum(STARTABLE_WORKFLOWS),
  input: z._default(z.record(z.string(), z.unknown()), {}),
});
const faultStep = z.strictObject({
  /** When the fault strikes: a scenario second, or the first time a workflow enters the named state. */
  at: z.optional(seconds),
  atState: z.optional(z.string().check(z.minLength(1), z.maxLength(80))),
  fault: z.enum(FAULTS),
  /** `manager`, `worker`, `surge`, or an instance id. */
  target: z._default(z.string().check(z.regex(/^(manager|worker|surge|i-[0-9a-f]{8,17})$/)), 'worker'),
  /** fail-command: the command kind to fail, such as `patch`. */
  command: z.optional(z.string().check(z.regex(/^[a-zA-Z]{1,32}$/))),
});

export const executionStatus = z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

const scenarioSchema = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(120)),
  // prefault: a missing block is parsed as {}, so the defaults of its fields are written once, on the fields.
  cluster: z.prefault(
    z.strictObject({
      name: z._default(z.string().check(z.regex(/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/)), 'sandbox'),
      topology: z._default(z.enum(['active-passive', 'active-active']), 'active-passive'),
      nodes: z._default(z.literal(2), 2),
      version: z._default(z.string().check(z.regex(/^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/)), '1.0.0'),
      /** How long a node takes to boot or restart. */
      bootSeconds: z._default(seconds, 20),
      /** A cold standby in a second region (launch template, load balancer, Route 53 records), for region-failover. */
      dr: z._default(z.boolean(), false),
      /** Services deployed on the manager (and synced to the workers) before the scenario starts. */
      services: z._default(
        z
          .array(
            z.strictObject({
              service: z.string().check(z.regex(/^[A-Za-z][\w.-]{0,127}$/)),
              artifact: z.string().check(z.regex(/^(s3|https):\/\/\S{3,900}$/)),
            }),
          )
          .check(z.maxLength(10)),
        [],
      ),
      /**
       * The cluster's database: the model names it (an RDS DB instance the sandbox creates in moto, so upgrade-version
       * snapshots it before its migrations), and every node is told how its versions live with the schema.
       */
      database: z.prefault(
        z.strictObject({
          /** The DB instance identifier; `<cluster name>-db` when left out. */
          identifier: z.optional(z.string().check(z.regex(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}$/), z.regex(/[^-]$/))),
          /**
           * The model's `database.oldVersionRunsOnNewSchema`, and what the nodes do. False: a node whose version is
           * older than the shared database's schema refuses to serve (503), and upgrade-version migrates last. True:
           * every version serves on every schema, and upgrade-version migrates first. Left out: every version serves
           * on every schema, and the model keeps its own default (false: upgrade-version migrates last).
           */
          oldVersionRunsOnNewSchema: z.optional(z.boolean()),
        }),
        {},
      ),
      healthCheck: z.prefault(
        z.strictObject({
          intervalSeconds: z._default(z.number().check(z.minimum(1), z.maximum(300)), 5),
          timeoutSeconds: z._default(z.number().check(z.minimum(1), z.maximum(120)), 4),
          healthyThreshold: z._default(z.int().check(z.minimum(2), z.maximum(10)), 2),
          unhealthyThreshold: z._default(z.int().check(z.minimum(2), z.maximum(10)), 2),
        }),
        {},
      ),
    }),
    {},
  ),
  load: z.prefault(
    z.strictObject({
      /** Real requests per second, whatever the time scale. */
      requestsPerSecond: z._default(z.number().check(z.minimum(1), z.maximum(500)), 50),
      /** A cap on the load's real duration. */
      maxDurationSeconds: z._default(z.number().check(z.minimum(1), z.maximum(900)), 600),
      /** How long a node works on each request (real milliseconds), so requests are in flight during every shift. */
      serverTimeMs: z._default(z.int().check(z.minimum(0), z.maximum(2000)), 50),
    }),
    {},
  ),
  loadBalancer: z.prefault(
    z.strictObject({
      /**
       * How long the load balancers take to use a change of their listener's weights, from the moment it is made: an
       * ALB applies listener changes after a short while, for which AWS gives no figure. Until then requests go by the
       * old weights, so a workflow must not touch a node it moved traffic off before this has passed (its drain
       * time covers it).
       */
      propagationSeconds: z._default(z.number().check(z.minimum(0), z.maximum(60)), 5),
      /**
       * The ALB's idle timeout (its `idle_timeout.timeout_seconds` attribute): a target that accepts a request and
       * does not answer within it gets a 504. Left out, 60 real seconds, the ALB's default, whatever the time scale,
       * so a node that is merely slow on a busy machine is waited for; a scenario with a hung node sets it so that
       * the run does not wait a minute for the requests caught on that node.
       */
      idleTimeoutSeconds: z.optional(z.number().check(z.minimum(1), z.maximum(60))),
    }),
    {},
  ),
  timeScale: z._default(z.number().check(z.minimum(0.001), z.maximum(1)), 0.1),
  steps: z
    .array(
      z.union([
        startStep,
        faultStep.check(
          z.refine((step) => (step.at === undefined) !== (step.atState === undefined), 'needs either at or atState'),
          z.refine(
            (step) => step.fault !== 'abort' || step.atState !== undefined,
            'abort needs atState: the workflow to stop',
          ),
        ),
      ]),
    )
    .check(z.minLength(1), z.maxLength(20)),
  expect: z._default(
    z.strictObject({
      /** The status of each workflow the steps started, in order. */
      executions: z.optional(z.array(executionStatus)),
      /** The status of each workflow a node alarm started (failover), in order. */
      alarmExecutions: z.optional(z.array(executionStatus)),
      /** The status of each failover a node's peer watch started, in order. */
      peerExecutions: z.optional(z.array(executionStatus)),
      /** After a kill-node or hang-node fault: what started the failover that acted. */
      detectedBy: z.optional(z.enum(['peer', 'alarm', 'recheck'])),
      /** True: no failover moved any traffic (each ended before "Move traffic to the survivors"). */
      noTrafficMoved: z.optional(z.boolean()),
      /** The status of each workflow a rule on execution status changes started (recover), in order. */
      ruleExecutions: z.optional(z.array(executionStatus)),
      /**
       * True: a failover adopted a standby surge node into the lost slot and none launched a replacement. False:
       * none adopted one.
       */
      standbyAdopted: z.optional(z.boolean()),
      /** Permanent nodes healthy and carrying traffic at the end. */
      servingNodes: z.optional(z.int().check(z.minimum(0))),
      maxFailedRequests: z.optional(z.int().check(z.minimum(0))),
      minRequests: z.optional(z.int().check(z.minimum(0))),
      /** Every permanent node reports this version at the end. */
      finalVersion: z.optional(z.string()),
      /** The error of the first failed workflow. */
      error: z.optional(z.string()),
      surgeNodesLeft: z.optional(z.int().check(z.minimum(0))),
      /** The shared database's schema version at the end. */
      schemaVersion: z.optional(z.string()),
      /** True: the run took a snapshot of the cluster's database (read from moto). False: it took none. */
      databaseSnapshotTaken: z.optional(z.boolean()),
      /** Every permanent node that carries traffic at the end (healthy, with weight) reports this version. */
      servingVersion: z.optional(z.string()),
      /** `service artifact`, deployed on every permanent node at the end. */
      serviceOnEveryNode: z.optional(z.string()),
      /** Permanent nodes (replacements included) healthy at the end. */
      healthyNodes: z.optional(z.int().check(z.minimum(0))),
      /** After a kill-node fault: the failover's own time, from the alarm to the traffic moved, at most. */
      maxFailoverOrchestrationSeconds: z.optional(z.number().check(z.minimum(0))),
      /** After a kill-node fault: failed requests outside the window from the death to the traffic moved. */
      maxFailedOutsideFailoverWindow: z.optional(z.int().check(z.minimum(0))),
    }),
    {},
  ),
});
export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioStep = Scenario['steps'][number];

export class ScenarioError extends ZeroDownError {
  override readonly name = 'ScenarioError';
}

export function parseScenario(document: unknown, source: string): Scenario {
  const result = scenarioSchema.safeParse(document, FIELD_ISSUE_PARSING);
  if (!result.success) {
    const issues = toFieldIssues(result.error).map((issue) => `${issue.path} ${issue.message}`);
    throw new ScenarioError(`Invalid scenario ${source}: ${issues.join('; ')}`);
  }
  return result.data;
}

export function readScenario(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ScenarioError(`Cannot read scenario ${file}: ${(error as Error).message}`);
  }
  try {
    return parseScenario(JSON.parse(text), file);
  } catch (error) {
    if (error instanceof ScenarioError) throw error;
    throw new ScenarioError(`Scenario ${file} is not valid JSON: ${(error as Error).message}`);
  }
}
