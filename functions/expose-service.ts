import { elbv2Client } from './aws/clients/elbv2';
import { observedHandler } from './aws/observability';
import { parseInput } from './domain/input';
import { exposeServiceInputSchema } from './domain/plans/deploy-service';
import { clusterModelFor } from './operations/cluster-model-for';
import { exposeService } from './operations/expose-service';

/** Exposes a deployed service through a listener rule that follows the cluster's weights. */
async function handle(event: unknown) {
  const input = parseInput(exposeServiceInputSchema, event, 'expose-service');
  return exposeService(elbv2Client, await clusterModelFor(input.cluster), input);
}

export const handler = observedHandler('expose-service', handle);
