/**
 * Steps that a plan predicts and its state machine runs under the same name: the plan an operator reviews names the
 * states they will then watch. Spelled once, here, for both.
 */
export const STEPS = {
  snapshotDatabase: 'Snapshot the database',
  runMigrations: 'Run the database migrations',
  changeSurge: 'Change the surge node for the image',
  bakeImage: 'Bake the image',
  verifyImageSource: 'Verify the idle node for the image',
  copyImage: 'Copy the image to the DR region',
  publishImage: 'Publish the image',
  recordVersion: "Record the cluster's version",
  shiftToPatched: 'Shift traffic to the patched node',
  verifyPatchedUnderTraffic: 'Verify the patched node under traffic',
  shiftBack: 'Shift traffic back',
  verifySurge: 'Verify the surge node',
  /** The label of a surge node a change behind the nodes, as it gets the rollout's change. */
  laggingSurge: 'the lagging surge node',
  verifyCaughtUpSurge: 'Verify the caught-up surge node',
  surgeIn: 'Put the surge node into service',
  surgeOut: 'Take the surge node out of service',
  deployOnManager: 'Deploy the service on the manager node',
  smokeTestEveryNode: 'Smoke-test every node',
  expose: 'Expose the service',
  exposeRule: 'Expose the service on the load balancer',
  pauseSync: 'Pause file sync on the manager node',
  managerOut: 'Take the manager node out of service',
  deployHotfix: 'Deploy the hotfix on the manager node',
  smokeTestManager: 'Smoke-test the manager node',
  verifyUpdatedManager: 'Verify the updated manager node',
  shiftToUpdated: 'Shift traffic to the updated manager node',
  resumeSync: 'Resume file sync on the manager node',
  rebalance: 'Rebalance the traffic',
} as const;
