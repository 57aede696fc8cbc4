import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { type ClusterModelInput, parseClusterModel } from '../../functions/domain/cluster-model';
import { ClusterModelError } from '../../functions/domain/errors';
import { clusterNameSchema } from '../../functions/domain/field-issues';
import { alarmNameInput, recoverRequestSchema } from '../../functions/domain/input';
import { deployRequestSchema } from '../../functions/domain/plans/deploy-service';
import { patchRequestSchema, upgradeRequestSchema } from '../../functions/domain/plans/rollout';
import { updateRequestSchema } from '../../functions/domain/plans/update-service';
import { START_PLACEHOLDERS, startExamples, startExecutionCommand } from '../../functions/domain/start-examples';
import {
  CLUSTER_WORKFLOWS,
  type ClusterWorkflow,
  stateMachineNameOf,
  WORKFLOWS,
} from '../../functions/domain/workflows';
import { withKitDocuments } from '../../kits/node/documents';
import { resourcesOfType } from '../../local/template';
import { FAILOVER_INPUT_FIELDS } from '../../statemachines/failover';
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

  describe('outputs', () => {
    const json = template.toJSON() as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
      Outputs: Record<string, { Value: unknown; Description?: string }>;
    };
    const model = parseClusterModel(testClusterModel());
    const examples = startExamples(model);

    /** The output whose logical id is the construct's path, `Cluster<id>`, and CDK's hash. */
    function output(id: string) {
      const matches = Object.entries(json.Outputs).filter(([logicalId]) =>
        new RegExp(`^Cluster${id}[0-9A-F]{8}$`).test(logicalId),
      );
      expect(matches).toHaveLength(1);
      return matches[0]?.[1] as { Value: unknown; Description?: string };
    }
    /** An output's value with each reference written `<LogicalId>` and each pseudo parameter left as it is. */
    function text(value: unknown): string {
      if (typeof value === 'string') return value;
      const intrinsic = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
      if (intrinsic.Ref !== undefined) return `<${intrinsic.Ref}>`;
      if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(text).join(intrinsic['Fn::Join'][0]);
      throw new Error(`Unexpected output value ${JSON.stringify(value)}`);
    }
    function logicalIdOf(type: string, property: string, value: string): string {
      const found = Object.entries(json.Resources).filter(
        ([, resource]) => resource.Type === type && resource.Properties?.[property] === value,
      );
      expect(found).toHaveLength(1);
      return found[0]?.[0] ?? '';
    }
    const stateMachineOf = (workflow: ClusterWorkflow) =>
      logicalIdOf('AWS::StepFunctions::StateMachine', 'StateMachineName', stateMachineNameOf(model.name, workflow));

    it("gives each workflow's state machine ARN and the command that starts it", () => {
      for (const workflow of CLUSTER_WORKFLOWS) {
        const { constructId } = WORKFLOWS[workflow];
        const arn = `<${stateMachineOf(workflow)}>`;
        expect(text(output(`${constructId}Arn`).Value)).toBe(arn);
        const example = examples[workflow];
        if (example === undefined) throw new Error(`No start example for ${workflow}`);
        const start = output(`${constructId}Start`);
        expect(text(start.Value)).toBe(
          `aws stepfunctions start-execution --state-machine-arn ${arn} --input '${JSON.stringify(example)}'`,
        );
        expect(start.Description).toBe(`Starts ${workflow}: replace the placeholders`);
      }
      expect(text(output('PatchServerStart').Value)).toBe(
        `aws stepfunctions start-execution --state-machine-arn <${stateMachineOf('patch-server')}> ` +
          `--input '{"cluster":"test-cluster","patchId":"PATCH-ID"}'`,
      );
    });

    it('gives the topics and the dashboard URL', () => {
      const [events, paging] = ['zerodown test-cluster', 'zerodown test-cluster: page'].map(
        (name) => `<${logicalIdOf('AWS::SNS::Topic', 'DisplayName', name)}>`,
      );
      expect(text(output('TopicArn').Value)).toBe(events);
      expect(text(output('PagingTopicArn').Value)).toBe(paging);
      const dashboard = logicalIdOf('AWS::CloudWatch::Dashboard', 'DashboardName', 'zerodown-test-cluster');
      expect(text(output('DashboardUrl').Value)).toBe(
        `https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/<${dashboard}>`,
      );
      expect(text(output('NodePolicyArn').Value)).toMatch(/^<ClusterNodeKitNodePolicy/);
    });

    it('keeps the outputs few and small: the template is close to the size CloudFormation accepts', () => {
      // The arns and start commands of six workflows, two topics, the dashboard and the node policy.
      expect(Object.keys(json.Outputs)).toHaveLength(2 * CLUSTER_WORKFLOWS.length + 4);
      expect(JSON.stringify(json.Outputs, null, 1).length).toBeLessThan(8_000);
    });

    it('starts each workflow with an input its own schema accepts, placeholders included', () => {
      const schemas = {
        'patch-server': patchRequestSchema,
        'upgrade-version': upgradeRequestSchema,
        'deploy-service': deployRequestSchema,
        'update-service': updateRequestSchema,
        recover: recoverRequestSchema,
      } as const;
      for (const [workflow, schema] of Object.entries(schemas)) {
        const example = examples[workflow as ClusterWorkflow];
        expect({ workflow, issues: schema.safeParse(example).error?.issues }).toEqual({ workflow, issues: undefined });
      }
      // failover's input is checked by its state machine: these four strings, as the node alarm rule sends them.
      const failover = examples.failover ?? {};
      expect(Object.keys(failover).sort()).toEqual([...FAILOVER_INPUT_FIELDS].sort());
      expect(clusterNameSchema.safeParse(failover.cluster).success).toBe(true);
      expect(model.nodes.map((node) => node.slot)).toContain(failover.slot);
      expect(alarmNameInput.safeParse(failover.alarmName).success).toBe(true);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: failover.alarmName });
      expect(typeof failover.detectedAt).toBe('string');
      // Each placeholder is used, and spelled as no real value would be.
      const values = Object.values(examples).flatMap((example) => Object.values(example ?? {}));
      for (const placeholder of Object.values(START_PLACEHOLDERS)) expect(values).toContain(placeholder);
    });

    it('writes the input into the command so that a shell passes it on as it is', () => {
      for (const example of Object.values(examples)) {
        const command = startExecutionCommand('ARN', example ?? {});
        const quoted = /--input '([^']*)'$/.exec(command);
        expect(JSON.parse(quoted?.[1] ?? 'null')).toEqual(example);
      }
    });

    it('offers no failover command for a cluster without slots, which has no node alarm to start it', () => {
      const slotless = { ...model, nodes: model.nodes.map(({ slot: _slot, ...node }) => node) };
      expect(Object.keys(startExamples(slotless))).not.toContain('failover');
      expect(Object.keys(startExamples(slotless))).toHaveLength(CLUSTER_WORKFLOWS.length - 1);
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
