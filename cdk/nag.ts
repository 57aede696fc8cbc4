import { type IResolvable, Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/** How cdk-nag writes a value in a finding id (intrinsics become `<AWS::AccountId>` or `<Logical.Attr>`): its own way. */
export function nagValue(scope: IConstruct, value: string | IResolvable): string {
  return flattenCfnReference(Stack.of(scope).resolve(value));
}

/** Acknowledges one wildcard resource (AwsSolutions-IAM5) on a construct, with the reason it is needed. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagValue(scope, resource)}]`, reason });
}

/** Acknowledges one wildcard action (AwsSolutions-IAM5) on a construct, with the reason it is needed. */
export function acknowledgeWildcardAction(scope: IConstruct, action: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
}
