import * as z from 'zod/mini';
import { clientsIn } from './aws/clients/regional';
import { observedHandler } from './aws/observability';
import { drSiteOf } from './domain/dr-site';
import { clusterInput, executionArnInput, parseInput } from './domain/input';
import { clusterModelFor } from './operations/cluster-model-for';
import { drStatus, launchDrNodes, tearDownDrNodes } from './operations/dr-nodes';

const since = z.optional(z.iso.datetime({ offset: true }));
const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({
    action: z.literal('launch'),
    ...clusterInput,
    execution: executionArnInput,
    /** Refuse when the DR site already runs another execution's nodes (a drill must not touch a live DR site). */
    exclusive: z._default(z.boolean(), false),
  }),
  z.strictObject({
    action: z.literal('status'),
    ...clusterInput,
    execution: z.optional(executionArnInput),
    since,
    /** Compare no version: fail over to DR nodes whatever version they run. */
    ignoreVersion: z._default(z.boolean(), false),
  }),
  z.strictObject({ action: z.literal('teardown'), ...clusterInput, execution: z.optional(executionArnInput) }),
]);

/** Launch, poll or tear down the DR site's nodes (those of one execution, or all of the cluster's). */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'dr-nodes');
  const model = await clusterModelFor(input.cluster);
  const clients = clientsIn(drSiteOf(model).region);
  switch (input.action) {
    case 'launch':
      return { nodes: await launchDrNodes(clients, model, input) };
    case 'status':
      return drStatus(clients, model, input);
    case 'teardown':
      return tearDownDrNodes(clients, model, input);
  }
}

export const handler = observedHandler('dr-nodes', handle);
