import * as z from 'zod/mini';
import { clusterModelSchema } from '../functions/domain/cluster-model';

/**
 * The JSON Schema of the cluster model, generated from the schema the code validates with, so an editor checks a
 * model file as synthesis will (the rules across fields, such as a node's slot naming a slot of the traffic block,
 * are checked by `zerodown validate` only). It describes the model as written: defaults may be left out.
 */
export function clusterModelJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(clusterModelSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>),
    title: 'zerodown cluster model',
  };
}
