import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp, stackIdFor } from '../../cdk/app';
import type { ClusterModelInput } from '../../functions/lib/cluster-model';
import { HarnessProbeStack } from './fixtures/probe-stack';
import { PROJECT_ROOT, TEST_ACCOUNT, TEST_REGION } from './settings';

export const TEST_CLUSTER_FILE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'clusters', 'test-cluster.json');
export const HARNESS_PROBE_STACK = 'ZeroDownHarnessProbe';

export function testClusterModel(): ClusterModelInput {
  return JSON.parse(fs.readFileSync(TEST_CLUSTER_FILE, 'utf8')) as ClusterModelInput;
}

export const TEST_CLUSTER_STACK = stackIdFor(testClusterModel().name);

/** The production app for the test cluster, plus the harness's probe stack. Bundling is skipped: tests run sources. */
export function buildTestApp(outdir: string): App {
  const app = new App({
    outdir,
    context: { 'aws:cdk:enable-path-metadata': true, 'aws:cdk:bundling-stacks': [] },
  });
  buildApp(app, [testClusterModel()]);
  new HarnessProbeStack(app, HARNESS_PROBE_STACK, { env: { region: TEST_REGION, account: TEST_ACCOUNT } });
  return app;
}
