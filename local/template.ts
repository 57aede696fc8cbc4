/**
 * Reading synthesized CloudFormation: resolving the intrinsics CDK emits to deterministic fake values, so a state
 * machine's DefinitionString becomes plain ASL that runs locally.
 */

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, unknown>;
}

export interface StackEnvironment {
  readonly region: string;
  readonly account: string;
  readonly stackName: string;
}

export class UnsupportedIntrinsicError extends Error {
  override readonly name = 'UnsupportedIntrinsicError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The fake ARN or name that stands for a resource's attribute. Physical names are the logical ids. */
export function fakeAttribute(
  template: CfnTemplate,
  env: StackEnvironment,
  logicalId: string,
  attribute: string,
): string {
  const resource = template.Resources[logicalId];
  if (!resource) throw new UnsupportedIntrinsicError(`Unknown resource ${logicalId}`);
  const { region, account } = env;
  const prefix = `arn:aws`;
  const name = (property: string) => {
    const value = resource.Properties?.[property];
    return typeof value === 'string' ? value : logicalId;
  };
  switch (resource.Type) {
    case 'AWS::Lambda::Function':
      return attribute === 'Ref' ? logicalId : `${prefix}:lambda:${region}:${account}:function:${logicalId}`;
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable':
      return attribute === 'Ref' ? logicalId : `${prefix}:dynamodb:${region}:${account}:table/${logicalId}`;
    case 'AWS::SNS::Topic':
      return attribute === 'TopicName' ? logicalId : `${prefix}:sns:${region}:${account}:${logicalId}`;
    case 'AWS::SSM::Parameter':
      return attribute === 'Ref' ? name('Name') : `${prefix}:ssm:${region}:${account}:parameter${name('Name')}`;
    case 'AWS::StepFunctions::StateMachine':
      return attribute === 'Name' ? logicalId : `${prefix}:states:${region}:${account}:stateMachine:${logicalId}`;
    case 'AWS::Logs::LogGroup':
      return attribute === 'Ref'
        ? name('LogGroupName')
        : `${prefix}:logs:${region}:${account}:log-group:${name('LogGroupName')}:*`;
    case 'AWS::KMS::Key':
      return attribute === 'Ref' ? logicalId : `${prefix}:kms:${region}:${account}:key/${logicalId}`;
    case 'AWS::CloudWatch::Alarm':
      return attribute === 'Ref'
        ? name('AlarmName')
        : `${prefix}:cloudwatch:${region}:${account}:alarm:${name('AlarmName')}`;
    case 'AWS::IAM::Role':
      return attribute === 'Ref' ? logicalId : `${prefix}:iam::${account}:role/${logicalId}`;
    default:
      return attribute === 'Ref' ? logicalId : `${prefix}:fake:${region}:${account}:${logicalId}/${attribute}`;
  }
}

function pseudoParameter(name: string, env: StackEnvironment): string | undefined {
  switch (name) {
    case 'AWS::Region':
      return env.region;
    case 'AWS::AccountId':
      return env.account;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return env.stackName;
    default:
      return undefined;
  }
}

function resolveReference(template: CfnTemplate, env: StackEnvironment, target: string, attribute = 'Ref'): string {
  if (attribute === 'Ref') {
    const pseudo = pseudoParameter(target, env);
    if (pseudo !== undefined) return pseudo;
  }
  return fakeAttribute(template, env, target, attribute);
}

function resolveSub(
  template: CfnTemplate,
  env: StackEnvironment,
  text: string,
  variables: Record<string, Json>,
): string {
  return text.replace(/\$\{([^}!][^}]*)\}/g, (_match, expression: string) => {
    if (expression in variables) return String(resolveIntrinsics(template, env, variables[expression] ?? null));
    const [target = '', attribute] = expression.split('.');
    return resolveReference(template, env, target, attribute ?? 'Ref');
  });
}

/** Replaces Ref, Fn::GetAtt, Fn::Join and Fn::Sub with fake values; any other intrinsic fails loudly. */
export function resolveIntrinsics(template: CfnTemplate, env: StackEnvironment, value: Json): Json {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(template, env, item));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const [key] = keys;
  if (keys.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
    const argument = value[key] ?? null;
    switch (key) {
      case 'Ref':
        return resolveReference(template, env, String(argument));
      case 'Fn::GetAtt': {
        const [target, attribute] = Array.isArray(argument) ? argument : String(argument).split('.');
        return resolveReference(template, env, String(target), String(attribute));
      }
      case 'Fn::Join': {
        if (!Array.isArray(argument) || argument.length !== 2 || !Array.isArray(argument[1])) {
          throw new UnsupportedIntrinsicError(`Malformed Fn::Join: ${JSON.stringify(argument)}`);
        }
        const parts = resolveIntrinsics(template, env, argument[1]) as Json[];
        return parts.map(String).join(String(argument[0]));
      }
      case 'Fn::Sub': {
        if (typeof argument === 'string') return resolveSub(template, env, argument, {});
        if (Array.isArray(argument) && typeof argument[0] === 'string') {
          const variables = (argument[1] ?? {}) as Record<string, Json>;
          return resolveSub(template, env, argument[0], variables);
        }
        throw new UnsupportedIntrinsicError(`Malformed Fn::Sub: ${JSON.stringify(argument)}`);
      }
      default:
        throw new UnsupportedIntrinsicError(`${key} is not supported by the local resolver: ${JSON.stringify(value)}`);
    }
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIntrinsics(template, env, v)]));
}

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}
