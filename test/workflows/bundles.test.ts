import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { buildLambdaBundle } from '../../cdk/bundling';
import { snsClient } from '../../functions/aws/clients/sns';
import { createMotoCluster } from '../../local/moto-cluster';
import { createLockTable, startMotoExecution } from '../../local/moto-resources';
import { useMoto } from '../harness/moto';
import { TEST_CACHE_DIR } from '../harness/settings';

type Handler = (event: unknown) => Promise<unknown>;

/** Runs in a fresh Node process, as Lambda would: load the bundle, call its handler once, print the outcome. */
const INVOKE_SCRIPT = `
const { handler } = require(process.argv[1]);
handler(JSON.parse(process.argv[2])).then(
  (result) => process.stdout.write(JSON.stringify({ result })),
  (error) => process.stdout.write(JSON.stringify({ error: { name: error.name, message: error.message } })),
);`;

/**
 * The deployed artifact, not the sources: each handler is bundled exactly as CDK bundles it (minified, SDK inside,
 * the Lambda-only credential provider) and called in its own Node process against moto.
 */
async function bundledHandler(
  name: string,
  env: Record<string, string>,
  entry = `functions/${name}.ts`,
): Promise<Handler> {
  const outfile = path.join(TEST_CACHE_DIR, 'bundles', `${name}-${process.pid}`, 'index.js');
  await buildLambdaBundle(entry, outfile);
  return async (event) => {
    const child = spawnSync(process.execPath, ['-e', INVOKE_SCRIPT, outfile, JSON.stringify(event)], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const outcome = JSON.parse(child.stdout || '{}') as { result?: unknown; error?: { name: string; message: string } };
    if (outcome.error) throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name });
    if (!('result' in outcome)) throw new Error(`the bundle printed nothing: ${child.stderr}`);
    return outcome.result;
  };
}

describe('handler bundles', () => {
  useMoto();
  afterAll(() => fs.rmSync(path.join(TEST_CACHE_DIR, 'bundles'), { recursive: true, force: true }));

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
