import * as z from 'zod/mini';
import type { CommandKind } from './cluster-model';

/**
 * The values an operator passes to a node command, one pattern each. The workflow input schemas, the run-command
 * operation and the node kit's documents (as their `allowedPattern`) all use these, so a value one of them accepts
 * the others accept too, and a value none of them would put on a shell line never reaches a node.
 */
export const OPERATOR_VALUE_PATTERNS = {
  patchId: /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/,
  version: /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/,
  artifact:
    /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/[\w./+=@-]{1,900}|https:\/\/[\w.-]+(:\d{1,5})?\/[\w./%+=@~-]{1,900})$/,
  service: /^[A-Za-z][\w.-]{0,127}$/,
} as const;

export type OperatorValue = keyof typeof OPERATOR_VALUE_PATTERNS;

/** What each command kind receives from the operator, when it receives anything. */
export const OPERATOR_VALUE_OF: Readonly<Record<CommandKind, OperatorValue>> = {
  patch: 'patchId',
  upgrade: 'version',
  migrate: 'version',
  deploy: 'artifact',
  smokeTest: 'service',
  syncPause: 'service',
  syncResume: 'service',
  expose: 'service',
  // Takes no operator value: its values come from the cluster (cluster-values.ts), and run-command refuses an input.
  reconfigure: 'service',
};

export const OPERATOR_VALUE_DESCRIPTIONS: Readonly<Record<OperatorValue, string>> = {
  patchId: 'a patch id of letters, digits and ._:+-',
  version: 'a version such as 4.2.0 or 4.2.0-p3',
  artifact: 'an s3:// URI or an https:// URL of the artifact',
  service: 'a service name of letters, digits and ._-',
};

/** The workflow input schema of one operator value. */
export function operatorValueSchema(value: OperatorValue) {
  return z.string().check(z.regex(OPERATOR_VALUE_PATTERNS[value], `must be ${OPERATOR_VALUE_DESCRIPTIONS[value]}`));
}
