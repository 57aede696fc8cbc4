import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { buildLambdaBundle, buildPowertoolsLayer, LAYER_MODULES_DIR } from '../../cdk/bundling';
import { snsClient } from '../../functions/aws/clients/sns';
import { createMotoCluster } from '../../local/moto-cluster';
import { createLockTable, startMotoExecution } from '../../local/moto-resources';
import { useMoto } from '../harness/moto';

type Handler = (event: unknown) => Promise<unknown>;

/**
 * Runs in a fresh Node process, as Lambda would: load the bundle, call its handler once, and write the outcome to
 * file descriptor 3, apart from anything the handler logs on stdout.
 */
const INVOKE_SCRIPT = `
const { writeSync } = require('node:fs');
const { handler } = require(process.argv[1]);
const report = (outcome) => writeSync(3, JSON.stringify(outcome));
handler(JSON.parse(process.argv[2]), JSON.parse(process.argv[3])).then(
  (result) => report({ result }),
  (error) => report({ error: { name: error.name, message: error.message } }),
);`;

/** Bundles and the layer live outside the project, so a bundle finds Powertools only where Lambda would: the layer. */
const BUNDLE_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-bundles-'));
const LAYER_DIR = path.join(BUNDLE_ROOT, 'layer');

interface Invocation {
  readonly outcome: unknown;
  /** The JSON lines the handler wrote on stdout. */
  readonly logs: readonly Record<string, unknown>[];
}

/**
 * The deployed artifact, not the sources: each handler is bundled exactly as CDK bundles it (minified, SDK inside,
 * the Lambda-only credential provider, Powertools from the layer) and called in its own Node process against moto.
 */
async function bundledInvoker(
  name: string,
  env: Record<string, string>,
  entry = `functions/${name}.ts`,
): Promise<(event: unknown, context?: Record<string, unknown>) => Invocation> {
  const outfile = path.join(BUNDLE_ROOT, name, 'index.js');
  await buildLambdaBundle(entry, outfile);
  return (event, context = {}) => {
    const child = spawnSync(
      process.execPath,
      ['-e', INVOKE_SCRIPT, outfile, JSON.stringify(event), JSON.stringify(context)],
      {
        cwd: path.dirname(outfile),
        env: { ...process.env, NODE_PATH: path.join(LAYER_DIR, LAYER_MODULES_DIR), ...env },
        encoding: 'utf8',
        timeout: 30_000,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      },
    );
    const reported = String(child.output[3] ?? '');
    if (!reported) throw new Error(`the bundle reported nothing: ${child.stderr}`);
    const outcome = JSON.parse(reported) as { result?: unknown; error?: { name: string; message: string } };
    if (outcome.error) throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name });
    const logs = child.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { outcome: outcome.result, logs };
  };
}

async function bundledHandler(name: string, env: Record<string, string>, entry?: string): Promise<Handler> {
  const invoke = await bundledInvoker(name, env, entry);
  return async (event) => invoke(event).outcome;
}

describe('handler bundles', () => {
  useMoto();
  beforeAll(() => buildPowertoolsLayer(LAYER_DIR));
  afterAll(() => fs.rmSync(BUNDLE_ROOT, { recursive: true, force: true }));

  it('notify publishes to the topic with credentials from the environment only', async () => {
    const topic = await snsClient.send(new CreateTopicCommand({ Name: 'bundle-events' }));
    const handler = await bundledHandler('notify', { TOPIC_ARN: topic.TopicArn ?? '', CLUSTER_NAME: 'test-cluster' });

    const result = (await handler({
      cluster: 'test-cluster',
      workflow: 'patch-server',
      step: 'Smoke test',
      outcome: 'step',
    })) as { messageId: string };

    expect(result.messageId).toMatch(/[0-9a-f-]{36}/);
  });

  it('logs and writes metrics through the Powertools layer inside Lambda', async () => {
    const cluster = await createMotoCluster();
    const execution = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';
    const invoke = await bundledInvoker('shift-traffic', {
      CLUSTER_NAME: 'test-cluster',
      AWS_LAMBDA_FUNCTION_NAME: 'zerodown-test-cluster-shift-traffic',
    });
    const slot = cluster.model.nodes[0]?.slot ?? 'a';

    const { logs } = invoke(
      { cluster: 'test-cluster', callerExecution: execution, weights: { [slot]: 100 } },
      { functionName: 'zerodown-test-cluster-shift-traffic', awsRequestId: 'request-1' },
    );

    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'Succeeded',
        service: 'zerodown',
        operation: 'shift-traffic',
        cluster: 'test-cluster',
        execution,
        function_request_id: 'request-1',
      }),
    );
    expect(logs).toContainEqual(
      expect.objectContaining({
        Cluster: 'test-cluster',
        HealthyServingNodes: expect.any(Number),
        service: 'zerodown',
      }),
    );
  });

  it('snapshot-cluster reads EC2, ELB and SSM through the bundled clients', async () => {
    const cluster = await createMotoCluster();
    const handler = await bundledHandler('snapshot-cluster', { CLUSTER_NAME: 'test-cluster' });

    const snapshot = (await handler({ cluster: 'test-cluster' })) as { servingHealthyNodes: number; nodes: unknown[] };

    expect(snapshot.nodes).toHaveLength(cluster.model.nodes.length);
    expect(snapshot.servingHealthyNodes).toBe(1);
  });

  it('keeps the modeled SDK errors the code catches by class registered', async () => {
    // The lock turns DynamoDB's ConditionalCheckFailedException into ClusterLockedError with `instanceof`, and reads
    // Step Functions' ExecutionDoesNotExist as a holder that is gone.
    const tableName = await createLockTable();
    const handler = await bundledHandler('cluster-lock', { LOCK_TABLE_NAME: tableName, CLUSTER_NAME: 'test-cluster' });
    const request = (owner: string) => ({
      action: 'acquire',
      cluster: 'test-cluster',
      owner,
      workflow: 'patch-server',
    });
    const running = await startMotoExecution('zerodown-test-cluster-patch-server', 'first');
    await handler(request(running));

    await expect(handler(request(`${running}-second`))).rejects.toMatchObject({ name: 'ClusterLockedError' });

    const gone = `${running.replace(':first', ':gone')}`;
    await handler({ action: 'release', cluster: 'test-cluster', owner: running });
    await handler(request(gone));
    await expect(handler(request(`${running}-third`))).resolves.toMatchObject({
      holder: { staleOwner: gone, staleStatus: 'GONE' },
    });
  });

  it('delivers a modeled error it does not keep registered with its name, message and fault', async () => {
    const handler = await bundledHandler('unkept-ssm-error', {}, 'test/fixtures/bundles/unkept-ssm-error.ts');

    const outcome = await handler({ document: 'no-such-document' });

    expect(outcome).toEqual({
      thrown: true,
      name: 'InvalidDocument',
      message: 'The specified document does not exist.',
      $fault: 'client',
      isServiceException: true,
    });
  });
});
