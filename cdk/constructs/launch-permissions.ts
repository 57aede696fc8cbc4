import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { CLUSTER_TAG_KEY, ROLE_TAG_KEY } from '../../functions/domain/tags';
import { acknowledgeWildcardResource } from '../nag';

export function allow(
  fn: lambda.IFunction,
  actions: string[],
  resources: string[],
  conditions?: Record<string, unknown>,
): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) }));
}

/** Policies attach to the function's role, so acknowledgements of its findings go there too. */
export function roleOf(fn: lambda.IFunction): IConstruct {
  return fn.role ?? fn;
}

/**
 * RunInstances from one launch template into the given subnets, for instances that carry the cluster tag and `role`
 * (surge nodes, DR nodes), and nothing else.
 */
export function allowTaggedLaunch(
  fn: lambda.IFunction,
  launch: {
    clusterName: string;
    role: string;
    launchTemplateId: string;
    subnetIds: readonly string[];
    imageParameter?: string | undefined;
  },
): void {
  const stack = Stack.of(fn);
  const arn = (resource: string, resourceName: string) => stack.formatArn({ service: 'ec2', resource, resourceName });
  const created = ['instance', 'volume', 'network-interface'].map((type) => arn(type, '*'));
  // What RunInstances creates must carry the cluster tag and the role, so nothing else can be launched.
  allow(fn, ['ec2:RunInstances'], created, {
    StringEquals: {
      [`aws:RequestTag/${CLUSTER_TAG_KEY}`]: launch.clusterName,
      [`aws:RequestTag/${ROLE_TAG_KEY}`]: launch.role,
    },
  });
  // What it uses: the launch template and subnets, AMIs, and the security groups and key pairs the launch template
  // names.
  const used = [
    arn('launch-template', launch.launchTemplateId),
    ...launch.subnetIds.map((subnet) => arn('subnet', subnet)),
    stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' }),
    arn('security-group', '*'),
    arn('key-pair', '*'),
  ];
  allow(fn, ['ec2:RunInstances'], used);
  allow(fn, ['ec2:CreateTags'], created, { StringEquals: { 'ec2:CreateAction': 'RunInstances' } });
  for (const resource of created) {
    acknowledgeWildcardResource(
      roleOf(fn),
      resource,
      'New instances, volumes and interfaces have no ARN before launch; the cluster and role tag conditions scope ' +
        'every action on them.',
    );
  }
  for (const resource of used.slice(launch.subnetIds.length + 1)) {
    acknowledgeWildcardResource(
      roleOf(fn),
      resource,
      'The AMI, security groups and key pair come from the launch template and the AMI parameter at launch time.',
    );
  }
  if (launch.imageParameter) {
    allow(
      fn,
      ['ssm:GetParameter'],
      [stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: launch.imageParameter.slice(1) })],
    );
  }
}
