#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ZeroDownError } from '../../functions/domain/errors';
import {
  buildApp,
  buildExamplePipelineApp,
  buildReferenceApp,
  CLUSTER_FILES_CONTEXT_KEY,
  clusterFilesFromContext,
  EXAMPLE_PIPELINE_CLUSTER_FILE,
  EXAMPLE_PIPELINE_CONTEXT_KEY,
  REFERENCE_CONTEXT_KEY,
  readClusterFile,
  referenceDrFromContext,
} from '../app';

const app = new App();
try {
  if (String(app.node.tryGetContext(REFERENCE_CONTEXT_KEY)) === 'true') {
    const region = app.node.tryGetContext('region') ?? process.env.CDK_DEFAULT_REGION;
    const dr = referenceDrFromContext((key) => app.node.tryGetContext(key));
    buildReferenceApp(app, typeof region === 'string' ? region : undefined, dr);
  } else if (String(app.node.tryGetContext(EXAMPLE_PIPELINE_CONTEXT_KEY)) === 'true') {
    buildExamplePipelineApp(app, readClusterFile(EXAMPLE_PIPELINE_CLUSTER_FILE));
  } else {
    const files = clusterFilesFromContext(app.node.tryGetContext(CLUSTER_FILES_CONTEXT_KEY));
    if (files.length === 0) {
      console.warn(`No clusters: set the context ${CLUSTER_FILES_CONTEXT_KEY} to one or more cluster model files.`);
    }
    buildApp(app, files.map(readClusterFile));
  }
} catch (error) {
  if (error instanceof ZeroDownError) {
    console.error(`${error.name}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
