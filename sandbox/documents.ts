import { CreateDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { ClusterModel } from '../functions/domain/cluster-model';
import type { SynthesizedStack } from '../local/synth';
import { resourcesOfType } from '../local/template';

/**
 * The node kit's documents as the cluster's stack deploys them: read from the synthesized template and created in
 * moto under their names, so the sandbox's agent runs the very shell the kit ships.
 */
export async function createStackDocuments(ssm: SSMClient, stack: SynthesizedStack): Promise<string[]> {
  const names: string[] = [];
  for (const [logicalId, resource] of resourcesOfType(stack.template, 'AWS::SSM::Document')) {
    const properties = (resource.Properties ?? {}) as { Name?: string; Content?: unknown; DocumentType?: string };
    if (!properties.Name) throw new Error(`Document ${logicalId} has no name in the template`);
    await ssm.send(
      new CreateDocumentCommand({
        Name: properties.Name,
        DocumentType: properties.DocumentType === 'Command' ? 'Command' : undefined,
        DocumentFormat: 'JSON',
        Content: JSON.stringify(properties.Content),
      }),
    );
    names.push(properties.Name);
  }
  return names;
}

/** The model's commands as the stack stores them, with the kit's documents in place. */
export function storedCommandsOf(stack: SynthesizedStack): ClusterModel['commands'] {
  for (const [, resource] of resourcesOfType(stack.template, 'AWS::SSM::Parameter')) {
    const value = (resource.Properties as { Value?: unknown } | undefined)?.Value;
    if (typeof value !== 'string' || !value.startsWith('{')) continue;
    const stored = JSON.parse(value) as Partial<ClusterModel>;
    if (stored.commands && stored.topology) return stored.commands;
  }
  throw new Error(`${stack.env.stackName} stores no cluster model`);
}
