import { buildLocalApp, LOCAL_CLUSTER_STACK, localClusterModel } from '../../local/local-app';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/settings';
import { HarnessProbeStack } from './fixtures/probe-stack';

export const HARNESS_PROBE_STACK = 'ZeroDownHarnessProbe';

/** The tests' cluster is the emulator's local cluster. */
export const testClusterModel = localClusterModel;
export const TEST_CLUSTER_STACK = LOCAL_CLUSTER_STACK;

/** The production app for the test cluster, plus the harness's probe stack. Bundling is skipped: tests run sources. */
export function buildTestApp(outdir: string) {
  const app = buildLocalApp(outdir);
  new HarnessProbeStack(app, HARNESS_PROBE_STACK, { env: { region: LOCAL_REGION, account: LOCAL_ACCOUNT } });
  return app;
}
