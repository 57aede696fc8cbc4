import { parseClusterModel } from '../../functions/domain/cluster-model';
import { ClusterModelError, InputValidationError } from '../../functions/domain/errors';
import { passedOrLoadedModel } from '../../functions/operations/cluster-model-for';
import { testClusterModel } from '../harness/test-app';

/**
 * Failover's move takes the model its work-out read under the same lock, rather than reading it again: checked as a
 * stored model is, and only for the cluster the request names.
 */
describe('a model passed from the step before', () => {
  const model = parseClusterModel(testClusterModel());

  it('is taken as it is, with no read of its own', async () => {
    // The model as the work-out answers it: already parsed, through Step Functions as JSON.
    const passed = JSON.parse(JSON.stringify(model)) as unknown;

    await expect(passedOrLoadedModel(model.name, passed)).resolves.toEqual(model);
  });

  it('is refused for another cluster than the request names', async () => {
    await expect(passedOrLoadedModel('another-cluster', JSON.parse(JSON.stringify(model)))).rejects.toThrow(
      InputValidationError,
    );
  });

  it('is refused when it is not a valid model, naming the field', async () => {
    const broken = { ...JSON.parse(JSON.stringify(model)), topology: 'ring' };

    const refusal = passedOrLoadedModel(model.name, broken);

    await expect(refusal).rejects.toThrow(ClusterModelError);
    await expect(refusal).rejects.toThrow(/topology/);
  });
});
