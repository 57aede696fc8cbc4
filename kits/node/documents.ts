import { createHash } from 'node:crypto';
import type {
  ClusterModel,
  CommandKind,
  CommandSpec,
  NODE_KIT_COMMAND_KINDS,
} from '../../functions/domain/cluster-model';
import {
  CLUSTER_VALUE_DESCRIPTIONS,
  CLUSTER_VALUE_PARAMETERS,
  CLUSTER_VALUE_PATTERNS,
  type ClusterValue,
} from '../../functions/domain/cluster-values';
import { OPERATOR_VALUE_OF, OPERATOR_VALUE_PATTERNS } from '../../functions/domain/operator-values';

/**
 * The node kit's SSM documents: one per command kind, each a fixed command line that runs `zerodown-node`, the
 * node's control script, with the operator's value as a typed parameter. SSM checks the value against its
 * `allowedPattern` (the workflow's own pattern for that value) before anything runs, and the line quotes it, so no
 * value can become shell syntax. The cluster's stack creates these documents; the sandbox creates the same ones
 * from the synthesized template and its agent runs their shell.
 */

export type NodeKitKind = (typeof NODE_KIT_COMMAND_KINDS)[number];

interface KitDocumentSpec {
  /** The document parameter that receives the operator's value, and the control script's flag for it. */
  readonly input?: { readonly parameter: string; readonly flag: string };
  /** Values the workflow takes from the cluster (cluster-values.ts), each with the control script's flag for it. */
  readonly clusterValues?: readonly { readonly value: ClusterValue; readonly flag: string }[];
  /** The control script's action. */
  readonly action: string;
}

const SPECS: Readonly<Record<NodeKitKind, KitDocumentSpec>> = {
  patch: { action: 'patch', input: { parameter: 'PatchId', flag: '--patch-id' } },
  upgrade: { action: 'upgrade', input: { parameter: 'TargetVersion', flag: '--version' } },
  migrate: { action: 'migrate', input: { parameter: 'TargetVersion', flag: '--version' } },
  deploy: { action: 'deploy', input: { parameter: 'Artifact', flag: '--artifact' } },
  smokeTest: { action: 'smoke-test', input: { parameter: 'Service', flag: '--service' } },
  syncPause: { action: 'sync-pause' },
  syncResume: { action: 'sync-resume' },
  reconfigure: {
    action: 'reconfigure',
    clusterValues: [
      { value: 'members', flag: '--members' },
      { value: 'manager', flag: '--manager' },
    ],
  },
};

/**
 * The step's own limit, which SSM sets to an hour unless told: the stack passes the command's `timeoutSeconds`, so
 * a patch allowed two hours is not killed at one.
 */
export const EXECUTION_TIMEOUT_PARAMETER = 'ExecutionTimeout';
const EXECUTION_TIMEOUT_PATTERN = '^[1-9][0-9]{1,5}$';

/** Every kit document is created once under a name that carries its content's hash, so version 1 is the pin. */
export const KIT_DOCUMENT_VERSION = '1';

/** What the document runs, line by line. A missing control script fails the command with a message that says so. */
function scriptOf(kind: NodeKitKind): string[] {
  const spec = SPECS[kind];
  const value = [
    ...(spec.input ? [` ${spec.input.flag} '{{ ${spec.input.parameter} }}'`] : []),
    ...(spec.clusterValues ?? []).map(({ value, flag }) => ` ${flag} '{{ ${CLUSTER_VALUE_PARAMETERS[value]} }}'`),
  ].join('');
  return [
    'set -eu',
    'if ! command -v zerodown-node >/dev/null 2>&1; then',
    '  echo "zerodown-node is not installed on this node: install the node kit (docs/node-kit.md)" >&2',
    '  exit 127',
    'fi',
    `exec zerodown-node ${spec.action}${value}`,
  ];
}

export interface KitDocumentContent {
  readonly schemaVersion: '2.2';
  readonly description: string;
  readonly parameters: Record<
    string,
    { type: 'String'; description: string; allowedPattern: string; default?: string }
  >;
  readonly mainSteps: {
    action: 'aws:runShellScript';
    name: string;
    inputs: { runCommand: string[]; timeoutSeconds: string };
  }[];
}

/** The document's content (schema 2.2, one shell step), as CloudFormation and SSM take it. */
export function kitDocumentContent(kind: NodeKitKind): KitDocumentContent {
  const spec = SPECS[kind];
  const parameters: KitDocumentContent['parameters'] = {};
  if (spec.input) {
    const value = OPERATOR_VALUE_OF[kind];
    parameters[spec.input.parameter] = {
      type: 'String',
      description: `The ${value} the workflow passes`,
      allowedPattern: OPERATOR_VALUE_PATTERNS[value].source,
    };
  }
  for (const { value } of spec.clusterValues ?? []) {
    parameters[CLUSTER_VALUE_PARAMETERS[value]] = {
      type: 'String',
      description: `${CLUSTER_VALUE_DESCRIPTIONS[value]}, from the cluster as the workflow finds it`,
      allowedPattern: CLUSTER_VALUE_PATTERNS[value].source,
    };
  }
  parameters[EXECUTION_TIMEOUT_PARAMETER] = {
    type: 'String',
    description: 'Seconds the script may run',
    allowedPattern: EXECUTION_TIMEOUT_PATTERN,
    default: '3600',
  };
  return {
    schemaVersion: '2.2',
    description: `zerodown node kit: ${kind}, through zerodown-node ${spec.action}`,
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: kind,
        inputs: { runCommand: scriptOf(kind), timeoutSeconds: `{{ ${EXECUTION_TIMEOUT_PARAMETER} }}` },
      },
    ],
  };
}

/** `zerodown-<cluster>-<kind>-<hash>`: a change of content is a new document, never a new version of an old one. */
export function kitDocumentName(clusterName: string, kind: NodeKitKind): string {
  const hash = createHash('sha256')
    .update(JSON.stringify(kitDocumentContent(kind)))
    .digest('hex')
    .slice(0, 12);
  const slug = kind.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  return `zerodown-${clusterName}-${slug}-${hash}`;
}

/** The model's command for a kit document: the name, the pinned version, and the parameters the kit fixes. */
export function kitCommand(clusterName: string, kind: NodeKitKind, timeoutSeconds: number): CommandSpec {
  const spec = SPECS[kind];
  return {
    documentName: kitDocumentName(clusterName, kind),
    documentVersion: KIT_DOCUMENT_VERSION,
    parameters: { [EXECUTION_TIMEOUT_PARAMETER]: [String(timeoutSeconds)] },
    ...(spec.input ? { inputParameter: spec.input.parameter } : {}),
    timeoutSeconds,
  };
}

/** The model with each `"kit": "node"` command replaced by the kit document it runs, as the stack stores it. */
export function withKitDocuments(model: ClusterModel): ClusterModel {
  const commands: ClusterModel['commands'] = { ...model.commands };
  for (const [kind, command] of Object.entries(model.commands) as [CommandKind, CommandSpec | undefined][]) {
    if (command?.kit === 'node') {
      commands[kind] = kitCommand(model.name, kind as NodeKitKind, command.timeoutSeconds);
    }
  }
  return { ...model, commands };
}

/** The kinds whose commands use the kit. */
export function kitKindsOf(model: ClusterModel): NodeKitKind[] {
  return (Object.entries(model.commands) as [CommandKind, CommandSpec | undefined][]).flatMap(([kind, command]) =>
    command?.kit === 'node' ? [kind as NodeKitKind] : [],
  );
}
