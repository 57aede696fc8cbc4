import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { type ClusterModelInput, ZeroDownCluster } from 'zerodown';

// The cluster model, as in examples/clusters/demo.json: synthesis fails on a bad field, naming it.
const model: ClusterModelInput = JSON.parse(readFileSync('cluster.json', 'utf8'));
const app = new App();
const stack = new Stack(app, `ZeroDown-${model.name}`, { env: { region: model.region } });
new ZeroDownCluster(stack, 'Cluster', { model });
app.synth();
