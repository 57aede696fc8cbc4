import { createHash } from 'node:crypto';
import type { Tag, TagSpecification } from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';

/** What launches surge and DR nodes share: their AMI, their tags, and the ClientToken that keeps a retry single. */

/** The AMI to launch: given as an id, or read from an SSM parameter a release pipeline updates. */
export async function imageIdFor(
  ssm: SSMClient,
  source: { imageId?: string | undefined; imageParameter?: string | undefined },
): Promise<string | undefined> {
  if (source.imageId) return source.imageId;
  if (!source.imageParameter) return undefined;
  const response = await ssm.send(new GetParameterCommand({ Name: source.imageParameter }));
  return response.Parameter?.Value;
}

/** The same tags on the instance, its volumes and its network interfaces, set by RunInstances itself. */
export function tagsOnLaunch(tags: Tag[]): TagSpecification[] {
  return (['instance', 'volume', 'network-interface'] as const).map((ResourceType) => ({ ResourceType, Tags: tags }));
}

/** EC2's ClientToken: at most 64 characters, the same for every retry of one launch. */
export function clientTokenFor(launch: string): string {
  return createHash('sha256').update(launch).digest('hex').slice(0, 64);
}
