#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ZeroDownError } from '../../functions/domain/errors';
import { buildApp, CLUSTER_FILES_CONTEXT_KEY, clusterFilesFromContext, readClusterFile } from '../app';

const app = new App();
try {
  const files = clusterFilesFromContext(app.node.tryGetContext(CLUSTER_FILES_CONTEXT_KEY));
  if (files.length === 0) {
    console.warn(`No clusters: set the context ${CLUSTER_FILES_CONTEXT_KEY} to one or more cluster model files.`);
  }
  buildApp(app, files.map(readClusterFile));
} catch (error) {
  if (error instanceof ZeroDownError) {
    console.error(`${error.name}: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
