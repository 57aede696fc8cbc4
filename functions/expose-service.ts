import { elbv2Client } from './aws/clients/elbv2';
import { parseInput } from './domain/input';
import { exposeServiceInputSchema } from './domain/plans/deploy-service';
import { clusterModelFor } from './operations/cluster-model-for';
import { exposeService } from './operations/expose-service';

/** Exposes a deployed service through a listener rule that follows the cluster's weights. */
export async function handler(event: unknown) {
  const input = parseInput(exposeServiceInputSchema, event, 'expose-service');
  return exposeService(elbv2Client, await clusterModelFor(input.cluster), input);
}
