import { ArnFormat, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/**
 * A customer-managed key with rotation that CloudWatch Logs may use for the one log group named `logGroupName` only.
 * CloudWatch Logs encrypts with the key itself, so the key policy must name the service, scoped to that group. The
 * name is matched exactly: a prefix would also let the log group of a cluster named `<cluster>-prod` use the key.
 */
export function logEncryptionKey(
  scope: Construct,
  id: string,
  props: { description: string; logGroupName: string; removalPolicy: RemovalPolicy },
): kms.Key {
  const stack = Stack.of(scope);
  const key = new kms.Key(scope, id, {
    description: props.description,
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
    removalPolicy: props.removalPolicy,
  });
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchLogsForThisCluster',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnEquals: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: props.logGroupName,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  return key;
}
