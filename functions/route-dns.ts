import * as z from 'zod/mini';
import { elbv2In } from './aws/clients/elbv2';
import { route53Client } from './aws/clients/route53';
import { observedHandler } from './aws/observability';
import { pointDnsAt, readDnsState } from './aws/route53';
import { drSiteOf } from './domain/dr-site';
import { clusterInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { primaryStatus } from './operations/dr-nodes';

const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('read'), ...clusterInput }),
  z.strictObject({
    action: z.literal('point'),
    ...clusterInput,
    to: z.enum(['primary', 'dr']),
    since: z.optional(z.iso.datetime({ offset: true })),
  }),
  z.strictObject({ action: z.literal('check-primary'), ...clusterInput }),
]);

/** Read where the cluster's DNS name points, point it at one site, or check the primary can take traffic back. */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'route-dns');
  const model = await clusterModelFor(input.cluster);
  const clients = { route53: route53Client, drElbv2: elbv2In(drSiteOf(model).region) };
  switch (input.action) {
    case 'read':
      return readDnsState(clients, model);
    case 'point':
      return pointDnsAt(clients, model, input);
    case 'check-primary':
      return primaryStatus(elbv2In(model.region), model);
  }
}

export const handler = observedHandler('route-dns', handle);
