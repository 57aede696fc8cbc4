/** The namespace of every zerodown metric, the nodes' heartbeat included. */
export const METRICS_NAMESPACE = 'ZeroDown';

/** The metrics the functions emit and the dashboard graphs. */
export const METRIC_NAMES = {
  /** A slot's weight after a traffic shift (dimensions Cluster, Slot). */
  slotWeight: 'SlotWeight',
  /** Healthy nodes serving after a traffic shift (dimension Cluster). */
  healthyServing: 'HealthyServingNodes',
  /** From the node alarm to the lost node's traffic moved (dimension Cluster). */
  failoverTrafficMoved: 'FailoverTrafficMovedSeconds',
  /** From the node alarm to redundancy restored (dimension Cluster). */
  failoverRedundancyRestored: 'FailoverRedundancyRestoredSeconds',
} as const;

/**
 * The service the functions' logs and metrics name. Powertools' Metrics adds it to every metric as the `service`
 * dimension, so the dashboard asks for it too.
 */
export const POWERTOOLS_SERVICE = 'zerodown';
