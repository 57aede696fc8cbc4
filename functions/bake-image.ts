import * as z from 'zod/mini';
import { ec2In } from './aws/clients/ec2';
import { ssmIn } from './aws/clients/ssm';
import { observedHandler } from './aws/observability';
import { clusterInput, executionArnInput, instanceIdInput, parseInput } from './domain/input';
import { OPERATOR_VALUE_PATTERNS } from './domain/operator-values';
import { bakeImage } from './operations/bake-image';
import { clusterModelFor } from './operations/cluster-model-for';

const imageIdInput = z.string().check(z.regex(/^ami-[0-9a-f]{8,17}$/, 'must be an AMI id (ami-...)'));
const regionInput = z.string().check(z.regex(/^[a-z]{2}(?:-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'));

const inputSchema = z.discriminatedUnion('action', [
  z.strictObject({
    ...clusterInput,
    action: z.literal('create'),
    /** The node to bake: a permanent node or the surge node, which carries no traffic (it reboots). */
    instanceId: instanceIdInput,
    /** What the image carries: the version upgrade-version rolled out, or the patch id patch-server applied. */
    version: z
      .string()
      .check(
        z.regex(
          OPERATOR_VALUE_PATTERNS.patchId,
          'must be a version such as 4.2.0 or a patch id of letters, digits and ._:+-',
        ),
      ),
    execution: executionArnInput,
    /** How often the workflow polls: the answer says how many polls the model's bake timeout allows. */
    pollIntervalSeconds: z.int().check(z.minimum(1), z.maximum(3600)),
  }),
  z.strictObject({
    ...clusterInput,
    action: z.literal('status'),
    imageId: imageIdInput,
    /** @default - the cluster's region */
    region: z.optional(regionInput),
  }),
  z.strictObject({ ...clusterInput, action: z.literal('copy'), imageId: imageIdInput }),
  z.strictObject({
    ...clusterInput,
    action: z.literal('publish'),
    imageId: imageIdInput,
    /** The image's copy in the DR region; null when the cluster has none. */
    drImageId: z.nullable(imageIdInput),
  }),
]);

/**
 * Bakes an image of a changed node after a successful patch or upgrade, copies it to the DR region, points the image
 * parameters at it, and deregisters the cluster's baked images beyond its retention: one idempotent step per action.
 */
async function handle(event: unknown) {
  const input = parseInput(inputSchema, event, 'bake-image');
  const model = await clusterModelFor(input.cluster);
  return bakeImage({ ec2: ec2In, ssm: ssmIn }, model, input);
}

export const handler = observedHandler('bake-image', handle);
