import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { type ClusterModelInput, parseClusterModel } from '../../functions/domain/cluster-model';
import { ClusterModelError } from '../../functions/domain/errors';
import { withKitDocuments } from '../../kits/node/documents';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

describe('ZeroDownCluster', () => {
  const template = Template.fromJSON(synthesizedApp().stack(TEST_CLUSTER_STACK).template);

  it("stores the normalized cluster model where the Lambdas read it, with the node kit's documents in place", () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/zerodown/clusters/test-cluster',
      Type: 'String',
      Tier: 'Standard',
      Value: JSON.stringify(withKitDocuments(parseClusterModel(testClusterModel()))),
    });
  });

  it('alarms on each permanent node after 2 missed 10-second heartbeats, a dead node counting as missing', () => {
    for (const slot of ['a', 'b']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `zerodown-test-cluster-node-${slot}-lost`,
        Namespace: 'ZeroDown',
        MetricName: 'NodeHeartbeat',
        Dimensions: Match.arrayWith([{ Name: 'Slot', Value: slot }]),
        Period: 10,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'breaching',
      });
    }
    const nodeAlarms = resourcesOfType(template.toJSON() as never, 'AWS::CloudWatch::Alarm').filter(([, alarm]) =>
      String(alarm.Properties?.AlarmName).endsWith('-lost'),
    );
    expect(nodeAlarms).toHaveLength(2);
  });

  it('starts failover with the cluster, the slot and the detection time when a node alarm fires', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { state: { value: ['ALARM'] } },
        resources: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ClusterNodeAlarmsLosta'), 'Arn'] }],
      },
      Targets: [
        Match.objectLike({
          Arn: { Ref: Match.stringLikeRegexp('^ClusterWorkflowsFailoverStateMachine') },
          InputTransformer: {
            InputPathsMap: { 'detail-alarmName': '$.detail.alarmName', time: '$.time' },
            InputTemplate: '{"cluster":"test-cluster","slot":"a","alarmName":<detail-alarmName>,"detectedAt":<time>}',
          },
        }),
      ],
    });
  });

  it('creates a lock table keyed by lock id, with TTL and point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'lockId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAtEpochSeconds', Enabled: true },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
    });
  });

  it('encrypts the notification topic with the cluster key and refuses plain HTTP', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ClusterKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('creates an encrypted, retained log group for the state machines', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: {
        LogGroupName: '/aws/vendedlogs/states/zerodown-test-cluster',
        KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ClusterKey'), 'Arn'] },
        RetentionInDays: 90,
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('lets CloudWatch Logs use the key for this cluster only, and rotates it', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudWatchLogsForThisCluster',
            Principal: { Service: 'logs.us-east-1.amazonaws.com' },
            // The exact log group: a prefix would also match the group of a cluster named test-cluster-prod.
            Condition: {
              ArnEquals: {
                'kms:EncryptionContext:aws:logs:arn': {
                  'Fn::Join': ['', Match.arrayWith([':log-group:/aws/vendedlogs/states/zerodown-test-cluster'])],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  it('tags its resources with the cluster name', () => {
    template.hasResourceProperties('AWS::SNS::Topic', {
      Tags: Match.arrayWith([{ Key: 'zerodown:cluster', Value: 'test-cluster' }]),
    });
  });

  describe('with its own props', () => {
    function synth(model: ClusterModelInput, removalPolicy?: RemovalPolicy) {
      const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Props', {
        env: { region: model.region, account: '123456789012' },
      });
      new ZeroDownCluster(stack, 'Cluster', { model, removalPolicy });
      return Template.fromStack(stack);
    }

    it('moves a model over 4 KB to the advanced parameter tier', () => {
      const model = testClusterModel();
      const big: ClusterModelInput = {
        ...model,
        surge: {
          ...model.surge,
          tags: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`tag-${i}`, 'x'.repeat(150)])),
        },
      };
      synth(big).hasResourceProperties('AWS::SSM::Parameter', { Tier: 'Advanced' });
    });

    it('can be destroyed with its stack when asked', () => {
      const template = synth(testClusterModel(), RemovalPolicy.DESTROY);
      template.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete' });
      template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
        Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })],
      });
    });

    it('refuses at synthesis a command its workflows could not wait for, naming it', () => {
      const model = testClusterModel();
      const slow: ClusterModelInput = {
        ...model,
        commands: { ...model.commands, migrate: { kit: 'node', timeoutSeconds: 172_800 } },
      };
      expect(() => synth(slow)).toThrow(ClusterModelError);
      expect(() => synth(slow)).toThrow(/commands\.migrate\.timeoutSeconds is 172800 s/);
    });

    it('refuses at synthesis a command that would run any shell an operator value carries', () => {
      const model = testClusterModel();
      const shell = { ...model, commands: { ...model.commands, patch: { documentName: 'AWS-RunShellScript' } } };
      expect(() => synth(shell)).toThrow(ClusterModelError);
      expect(() => synth(shell)).toThrow(/commands\.patch\.documentName runs any shell its caller passes/);
    });

    it('refuses an invalid model at synthesis, naming the field', () => {
      const model = { ...testClusterModel(), topology: 'mesh' } as unknown as ClusterModelInput;
      expect(() => synth(model)).toThrow(ClusterModelError);
      expect(() => synth(model)).toThrow(/topology must be one of "active-active", "active-passive" \(got "mesh"\)/);
    });
  });
});
