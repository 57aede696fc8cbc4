import { elbv2Client } from './lib/clients/elbv2';
import { exposeService } from './lib/expose';
import { clusterModelFor } from './lib/handler';
import { parseInput } from './lib/input';
import { exposeServiceInputSchema } from './lib/plans/deploy-service';

/** Exposes a deployed service through a listener rule that follows the cluster's weights. */
export async function handler(event: unknown) {
  const input = parseInput(exposeServiceInputSchema, event, 'expose-service');
  return exposeService(elbv2Client, await clusterModelFor(input.cluster), input);
}
