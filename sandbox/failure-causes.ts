/**
 * Why a request through the sandbox failed. The load balancer names the cause of the errors it answers in a header,
 * and the load generator names its own, so a report can tell the failures the cluster's operations caused (a node
 * that was down, restarting or not registered) from those a busy machine explains (a node or the sandbox itself too
 * slow to answer in time).
 */
export const FAILURE_CAUSES = {
  /** The load balancer had no registered target in the group its weights chose (503). */
  'no-target': 'no registered target in the chosen target group',
  /** Nothing listened on the target: a node that was stopped, killed or restarting (502). */
  'target-down': 'the target refused the connection',
  /** The target closed the connection before it answered: a node going down mid-request (502). */
  'target-reset': 'the target closed the connection before answering',
  /** The target accepted the request but did not answer within the load balancer's idle timeout (504). */
  'target-timeout': 'the target did not answer in time',
  /** The node itself answered with an error status. */
  'node-error': 'the node answered with an error',
  /** The client could not reach the load balancer, or its connection broke. */
  'client-error': 'the client could not reach the load balancer',
  /** The client gave up waiting for the load balancer. */
  'client-timeout': 'the client gave up waiting',
} as const;

export type FailureCause = keyof typeof FAILURE_CAUSES;

/** Causes that a busy machine explains: something was too slow to answer in time, and nothing refused or broke. */
export const LOAD_CAUSES: ReadonlySet<FailureCause> = new Set(['target-timeout', 'client-timeout']);

/** The response header in which the sandbox's load balancer names the cause of an error it answers itself. */
export const FAILURE_HEADER = 'x-sandbox-failure';
