import { InputValidationError } from '../../../functions/domain/errors';
import { createMotoCluster } from '../../../local/moto-cluster';
import { createLockTable } from '../../../local/moto-resources';
import { useMoto } from '../../harness/moto';

type Handler = (event: unknown) => Promise<unknown>;

/** Loads a handler module the way Lambda does: configuration in the environment first, then the module. */
async function handlerOf(name: string, env: Record<string, string> = {}): Promise<Handler> {
  Object.assign(process.env, {
    LOCK_TABLE_NAME: 'zerodown-locks',
    TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:t',
    ...env,
  });
  const module = (await import(`../../../functions/${name}`)) as { handler: Handler };
  return module.handler;
}

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:zerodown-test-cluster-patch-server:run-1';

describe('handlers', () => {
  useMoto();
  afterEach(() => {
    delete process.env.CLUSTER_NAME;
  });

  it.each([
    ['cluster-lock', 'owner', { action: 'acquire', cluster: 'test-cluster', owner: 'me', workflow: 'patch-server' }],
    ['snapshot-cluster', 'cluster', { cluster: 'Test_Cluster' }],
    ['expose-service', 'pathPatterns', { cluster: 'test-cluster', service: 'orders-api', priority: 10 }],
    ['launch-surge-node', 'execution', { cluster: 'test-cluster' }],
    ['check-node-ready', 'instanceId', { cluster: 'test-cluster', instanceId: 'web-1' }],
    [
      'run-command',
      'kind',
      {
        action: 'send',
        cluster: 'test-cluster',
        kind: 'reboot',
        instanceIds: ['i-0123456789abcdef0'],
        idempotencyKey: 'k',
      },
    ],
    ['verify-node', 'extra', { cluster: 'test-cluster', instanceId: 'i-0123456789abcdef0', extra: true }],
    ['shift-traffic', 'weights.a', { cluster: 'test-cluster', weights: { a: 1000 } }],
    ['retire-node', 'action', { cluster: 'test-cluster', instanceId: 'i-0123456789abcdef0', action: 'destroy' }],
    ['notify', 'outcome', { cluster: 'test-cluster', workflow: 'patch-server', step: 's', outcome: 'great' }],
  ])('%s refuses bad input with InputValidationError naming %s', async (name, field, event) => {
    const handler = await handlerOf(name);
    const error = await handler(event).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).issues.map((issue) => issue.path)).toContain(field);
  });

  it('refuses a cluster the function does not serve', async () => {
    const handler = await handlerOf('snapshot-cluster', { CLUSTER_NAME: 'apim-prod' });
    await expect(handler({ cluster: 'test-cluster' })).rejects.toThrow(
      'cluster is "test-cluster", but this function serves "apim-prod"',
    );
  });

  it('loads the cluster model and runs the operation', async () => {
    const cluster = await createMotoCluster();
    const handler = await handlerOf('snapshot-cluster', { CLUSTER_NAME: 'test-cluster' });

    const snapshot = (await handler({ cluster: 'test-cluster' })) as { nodes: { instanceId: string }[] };

    expect(snapshot.nodes.map((node) => node.instanceId)).toEqual(cluster.model.nodes.map((node) => node.instanceId));
  });

  it('takes and gives back the lock through the handler', async () => {
    await createLockTable('zerodown-locks');
    const handler = await handlerOf('cluster-lock');
    const request = { cluster: 'test-cluster', owner: EXECUTION, workflow: 'patch-server' };

    await expect(handler({ action: 'acquire', ...request })).resolves.toMatchObject({ holder: { owner: EXECUTION } });
    await expect(handler({ action: 'release', cluster: 'test-cluster', owner: EXECUTION })).resolves.toEqual({
      released: true,
    });
  });
});
