import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp, stackIdFor } from '../cdk/app';
import type { ClusterModelInput } from '../functions/domain/cluster-model';

/**
 * The cluster the emulator builds its production app from: the sandbox, the bench and the tests all synthesize the
 * real stacks for it. Its ARNs and ids are placeholders; at run time the handlers read the cluster that moto holds.
 */
export const LOCAL_CLUSTER_FILE = path.join(__dirname, 'clusters', 'local-cluster.json');

export function localClusterModel(): ClusterModelInput {
  return JSON.parse(fs.readFileSync(LOCAL_CLUSTER_FILE, 'utf8')) as ClusterModelInput;
}

export const LOCAL_CLUSTER_STACK = stackIdFor(localClusterModel().name);

/**
 * A CDK app of production stacks for local runs: synthesized with path metadata (the local runner finds handlers by
 * it) and without bundling, because local runs load the handlers' sources.
 */
export function localApp(outdir: string): App {
  return new App({ outdir, context: { 'aws:cdk:enable-path-metadata': true, 'aws:cdk:bundling-stacks': [] } });
}

/** The production app for the given clusters (the local cluster by default). */
export function buildLocalApp(outdir: string, clusters: readonly ClusterModelInput[] = [localClusterModel()]): App {
  const app = localApp(outdir);
  buildApp(app, [...clusters]);
  return app;
}
