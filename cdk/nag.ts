import { type IResolvable, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** How cdk-nag writes a value in a finding id: intrinsics become `<AWS::AccountId>` or `<Logical.Attr>`. */
export function nagValue(scope: IConstruct, value: string | IResolvable): string {
  const render = (resolved: unknown): string => {
    if (typeof resolved === 'string') return resolved;
    if (Array.isArray(resolved)) return resolved.map(render).join('');
    if (resolved && typeof resolved === 'object') {
      const [[key, argument] = ['', undefined]] = Object.entries(resolved);
      if (key === 'Ref') return `<${String(argument)}>`;
      if (key === 'Fn::GetAtt' && Array.isArray(argument)) return `<${argument.join('.')}>`;
      if (key === 'Fn::Join' && Array.isArray(argument)) {
        const [separator, parts] = argument as [string, unknown[]];
        return parts.map(render).join(separator);
      }
    }
    throw new Error(`Cannot render ${JSON.stringify(resolved)} as a cdk-nag finding id`);
  };
  return render(Stack.of(scope).resolve(value));
}

/** Acknowledges one wildcard resource (AwsSolutions-IAM5) on a construct, with the reason it is needed. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagValue(scope, resource)}]`, reason });
}

/** Acknowledges one wildcard action (AwsSolutions-IAM5) on a construct, with the reason it is needed. */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
}
