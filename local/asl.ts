import { type CfnTemplate, resolveIntrinsics, resourcesOfType, type StackEnvironment } from './template';

/** The parts of an ASL state that the harness and the rule checks read. */
export interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: readonly Record<string, unknown>[];
  readonly Retry?: readonly { ErrorEquals: string[]; MaxAttempts?: number; IntervalSeconds?: number }[];
  readonly Catch?: readonly { ErrorEquals: string[]; Next: string }[];
  readonly TimeoutSeconds?: number;
  readonly TimeoutSecondsPath?: string;
  readonly Seconds?: number;
  readonly Iterator?: AslDefinition;
  readonly ItemProcessor?: AslDefinition;
  readonly Branches?: readonly AslDefinition[];
  readonly [field: string]: unknown;
}

export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
  readonly Comment?: string;
  readonly QueryLanguage?: string;
}

export interface SynthesizedStateMachine {
  readonly logicalId: string;
  readonly stackName: string;
  readonly definition: AslDefinition;
}

/**
 * Every state machine in a template, with its DefinitionString resolved to plain ASL. The synthesized templates keep
 * definitions in S3 assets: read them through readCloudAssembly, which puts each one back as DefinitionString.
 */
export function stateMachinesIn(template: CfnTemplate, env: StackEnvironment): SynthesizedStateMachine[] {
  return resourcesOfType(template, 'AWS::StepFunctions::StateMachine').map(([logicalId, resource]) => {
    const raw = resource.Properties?.DefinitionString;
    if (raw === undefined) {
      throw new Error(
        `${logicalId} has no DefinitionString: its definition is an S3 asset (DefinitionS3Location); read the ` +
          'template through readCloudAssembly (local/synth.ts), which puts the staged definition back in it',
      );
    }
    const resolved = resolveIntrinsics(template, env, raw as never);
    if (typeof resolved !== 'string') throw new Error(`${logicalId}: DefinitionString did not resolve to a string`);
    // As CloudFormation does: each ${key} of DefinitionSubstitutions is replaced by its value, resolved first.
    const substitutions = (resource.Properties?.DefinitionSubstitutions ?? {}) as Record<string, unknown>;
    const substituted = resolved.replace(/\$\{([A-Za-z0-9_]+)\}/g, (placeholder, key: string) => {
      if (!(key in substitutions)) return placeholder;
      const value = resolveIntrinsics(template, env, substitutions[key] as never);
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new Error(`${logicalId}: DefinitionSubstitutions.${key} did not resolve to a string`);
      }
      // Inside a JSON string: the value is escaped as the definition's own text is.
      return JSON.stringify(String(value)).slice(1, -1);
    });
    return { logicalId, stackName: env.stackName, definition: JSON.parse(substituted) as AslDefinition };
  });
}

export interface VisitedState {
  readonly name: string;
  readonly state: AslState;
  /** The definition (top level, Map processor or Parallel branch) the state belongs to. */
  readonly scope: AslDefinition;
  readonly depth: number;
}

/** Every state, including those inside Map processors and Parallel branches. */
export function allStates(definition: AslDefinition, depth = 0): VisitedState[] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    const nested = [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter(
      (inner): inner is AslDefinition => inner !== undefined,
    );
    return [{ name, state, scope: definition, depth }, ...nested.flatMap((inner) => allStates(inner, depth + 1))];
  });
}

export const LAMBDA_INVOKE_RESOURCE = /^arn:aws[a-z-]*:states:::lambda:invoke$/;

/** The Lambda function ARN a Task invokes, in either the optimized (`lambda:invoke`) or the direct form. */
export function invokedFunctionArn(state: AslState): string | undefined {
  if (state.Type !== 'Task' || !state.Resource) return undefined;
  if (LAMBDA_INVOKE_RESOURCE.test(state.Resource)) {
    const name = state.Parameters?.FunctionName;
    return typeof name === 'string' ? name : undefined;
  }
  return /^arn:aws[a-z-]*:lambda:/.test(state.Resource) ? state.Resource : undefined;
}
