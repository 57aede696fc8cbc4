import { CreateDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { ClusterModelInput, CommandKind } from '../functions/domain/cluster-model';

/**
 * The SSM documents of the reference stack: each runs the node's control script, `zerodown-node`, with the
 * operator's value as a document parameter whose `allowedPattern` SSM enforces before anything runs. The sandbox
 * creates the same documents in moto, and its agent runs them.
 */

interface DocumentSpec {
  readonly kind: CommandKind;
  readonly name: string;
  readonly parameter?: { readonly name: string; readonly allowedPattern: string };
  readonly fixed?: Record<string, string[]>;
  readonly script: string;
}

const VERSION = '^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$';

export function documentSpecs(prefix: string): DocumentSpec[] {
  return [
    {
      kind: 'patch',
      name: `${prefix}-patch`,
      parameter: { name: 'PatchId', allowedPattern: '^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$' },
      script: "zerodown-node patch --patch-id '{{ PatchId }}'",
    },
    {
      kind: 'upgrade',
      name: `${prefix}-upgrade`,
      parameter: { name: 'TargetVersion', allowedPattern: VERSION },
      script: "zerodown-node upgrade --version '{{ TargetVersion }}'",
    },
    {
      kind: 'migrate',
      name: `${prefix}-migrate`,
      parameter: { name: 'TargetVersion', allowedPattern: VERSION },
      script: "zerodown-node migrate --version '{{ TargetVersion }}'",
    },
    {
      kind: 'deploy',
      name: `${prefix}-deploy`,
      parameter: {
        name: 'Artifact',
        allowedPattern:
          '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[\\w./+=@-]{1,900}|https://[\\w.-]+(:\\d{1,5})?/[\\w./%+=@~-]{1,900})$',
      },
      script: "zerodown-node deploy --artifact '{{ Artifact }}'",
    },
    {
      kind: 'smokeTest',
      name: `${prefix}-smoke-test`,
      parameter: { name: 'Service', allowedPattern: '^[A-Za-z][\\w.-]{0,127}$' },
      script: "zerodown-node smoke-test --service '{{ Service }}'",
    },
    {
      kind: 'syncPause',
      name: `${prefix}-sync-pause`,
      parameter: { name: 'Service', allowedPattern: '^[A-Za-z][\\w.-]{0,127}$' },
      script: 'zerodown-node sync-pause',
    },
    {
      kind: 'syncResume',
      name: `${prefix}-sync-resume`,
      parameter: { name: 'Service', allowedPattern: '^[A-Za-z][\\w.-]{0,127}$' },
      script: 'zerodown-node sync-resume',
    },
  ];
}

/** The document's content as SSM takes it: schema 2.2, one shell step. */
export function documentContent(spec: DocumentSpec): string {
  return JSON.stringify({
    schemaVersion: '2.2',
    description: `zerodown ${spec.kind}`,
    parameters: spec.parameter
      ? { [spec.parameter.name]: { type: 'String', allowedPattern: spec.parameter.allowedPattern } }
      : {},
    mainSteps: [{ action: 'aws:runShellScript', name: spec.kind, inputs: { runCommand: ['set -e', spec.script] } }],
  });
}

/** Creates the documents and returns the cluster model's `commands` that name them. */
export async function createDocuments(ssm: SSMClient, prefix: string): Promise<ClusterModelInput['commands']> {
  const commands: Record<string, unknown> = {};
  for (const spec of documentSpecs(prefix)) {
    await ssm.send(
      new CreateDocumentCommand({
        Name: spec.name,
        DocumentType: 'Command',
        DocumentFormat: 'JSON',
        Content: documentContent(spec),
      }),
    );
    commands[spec.kind] = {
      documentName: spec.name,
      ...(spec.parameter ? { inputParameter: spec.parameter.name } : {}),
    };
  }
  return commands as ClusterModelInput['commands'];
}
