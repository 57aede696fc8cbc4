import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { ssmClient } from '../../functions/aws/clients/ssm';
import { loadClusterModel, saveClusterModel } from '../../functions/aws/ssm';
import { clusterParameterName } from '../../functions/domain/cluster-model';
import { ClusterModelError, ClusterNotFoundError } from '../../functions/domain/errors';
import { createMotoCluster } from '../../local/moto-cluster';
import { useMoto } from '../harness/moto';
import { testClusterModel } from '../harness/test-app';

describe('cluster store', () => {
  useMoto();

  it('loads the model a cluster was saved with, defaults filled in', async () => {
    // Prepare
    const cluster = await createMotoCluster({ name: 'apim-prod' });

    // Act
    const model = await loadClusterModel(ssmClient, 'apim-prod');

    // Assess
    expect(model).toEqual(cluster.model);
    expect(model.capacity.minHealthyPercent).toBe(75);
  });

  it('stores the normalized model, so what is read is what runs', async () => {
    await saveClusterModel(ssmClient, testClusterModel());
    const stored = await ssmClient.send(new GetParameterCommand({ Name: clusterParameterName('test-cluster') }));
    expect(JSON.parse(stored.Parameter?.Value ?? '{}').healthChecks.http[0].timeoutMs).toBe(2000);
  });

  it('refuses an unknown cluster with ClusterNotFoundError', async () => {
    const error = await loadClusterModel(ssmClient, 'nobody').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ClusterNotFoundError);
    expect((error as Error).message).toBe(
      'No cluster named "nobody": SSM parameter /zerodown/clusters/nobody does not exist',
    );
  });

  it('refuses a malformed cluster name before calling AWS', async () => {
    const error = await loadClusterModel(ssmClient, '../etc/passwd').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ClusterModelError);
    expect((error as ClusterModelError).issues[0]?.path).toBe('cluster');
  });

  it('refuses a hand-edited parameter that no longer validates, naming the field', async () => {
    const model = { ...testClusterModel(), topology: 'ring' };
    await ssmClient.send(
      new PutParameterCommand({
        Name: clusterParameterName('test-cluster'),
        Value: JSON.stringify(model),
        Type: 'String',
      }),
    );
    await expect(loadClusterModel(ssmClient, 'test-cluster')).rejects.toThrow(
      /cluster model in \/zerodown\/clusters\/test-cluster "test-cluster": topology must be one of/,
    );
  });

  it('refuses a parameter that is not JSON', async () => {
    await ssmClient.send(
      new PutParameterCommand({ Name: clusterParameterName('test-cluster'), Value: 'name: test', Type: 'String' }),
    );
    await expect(loadClusterModel(ssmClient, 'test-cluster')).rejects.toThrow(/is not valid JSON/);
  });

  it('refuses a model stored under another cluster name', async () => {
    await ssmClient.send(
      new PutParameterCommand({
        Name: clusterParameterName('other'),
        Value: JSON.stringify(testClusterModel()),
        Type: 'String',
      }),
    );
    await expect(loadClusterModel(ssmClient, 'other')).rejects.toThrow(
      'name is "test-cluster", but the parameter belongs to "other"',
    );
  });
});
