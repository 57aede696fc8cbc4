import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { drStackIdFor } from '../../cdk/app';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import type { ClusterModelInput } from '../../functions/domain/cluster-model';
import { CLUSTER_WORKFLOWS } from '../../functions/domain/workflows';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

const OPERATIONS = [
  'cluster-lock',
  'snapshot-cluster',
  'launch-surge-node',
  'check-node-ready',
  'run-command',
  'verify-node',
  'shift-traffic',
  'retire-node',
  'notify',
  'plan-workflow',
  'check-alarms',
  'expose-service',
  // Not a workflow step: the schedule runs it to start failover again for an alarm that stays in ALARM.
  'recheck-failover',
  'confirm-node-loss',
  'adopt-replacement',
  // Only where the model names a database, and where it bakes images, as the test cluster's does.
  'snapshot-database',
  'bake-image',
];

function statementsOf(template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }) {
  return resourcesOfType(template, 'AWS::IAM::Policy').flatMap(([id, policy]) =>
    ((policy.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? []).map(
      (statement) => ({
        policy: id,
        ...statement,
        actions: [statement.Action].flat(),
        resources: [statement.Resource].flat(),
      }),
    ),
  );
}

describe('NodeOperations', () => {
  const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template;
  const template = Template.fromJSON(raw);

  it('creates one function per operation on nodejs24.x, arm64, traced, naming its handler', () => {
    const functions = resourcesOfType(raw, 'AWS::Lambda::Function');
    expect(functions.map(([, fn]) => fn.Metadata?.['zerodown:handler']).sort()).toEqual(
      OPERATIONS.map((name) => `functions/${name}.ts#handler`).sort(),
    );
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: expect.objectContaining({ CLUSTER_NAME: 'test-cluster' }) },
        LoggingConfig: { LogGroup: expect.anything() },
      });
    }
  });

  it('logs JSON lines at INFO and above, with Powertools from one shared layer of the pinned version', () => {
    const functions = resourcesOfType(raw, 'AWS::Lambda::Function');
    const layers = resourcesOfType(raw, 'AWS::Lambda::LayerVersion');
    expect(layers).toHaveLength(1);
    const [[layerId, layer] = ['', {}]] = layers;
    expect(layer.Properties).toMatchObject({ CompatibleRuntimes: ['nodejs24.x'], CompatibleArchitectures: ['arm64'] });
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN' },
        Layers: [{ Ref: layerId }],
        Environment: {
          Variables: expect.objectContaining({
            POWERTOOLS_SERVICE_NAME: 'zerodown',
            POWERTOOLS_METRICS_NAMESPACE: 'ZeroDown',
          }),
        },
      });
    }
  });

  it('keeps DEBUG lines, each event and result, for every function when the cluster asks for them', () => {
    const model = testClusterModel();
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Debug', {
      env: { region: model.region, account: '123456789012' },
    });
    new ZeroDownCluster(stack, 'Cluster', { model, functionLogLevel: lambda.ApplicationLogLevel.DEBUG });
    const levels = resourcesOfType(Template.fromStack(stack).toJSON() as never, 'AWS::Lambda::Function').map(
      ([, fn]) => (fn.Properties?.LoggingConfig as { ApplicationLogLevel?: string } | undefined)?.ApplicationLogLevel,
    );
    expect(levels).toHaveLength(OPERATIONS.length);
    expect(new Set(levels)).toEqual(new Set(['DEBUG']));
  });

  it('gives each function its own log group with a retention', () => {
    const groups = resourcesOfType(raw, 'AWS::Logs::LogGroup').filter(
      ([id]) => id.includes('Operations') || id.includes('Recheck'),
    );
    expect(groups).toHaveLength(OPERATIONS.length);
    for (const [, group] of groups) expect(group.Properties?.RetentionInDays).toBe(90);
  });

  it('puts the functions that call the nodes into the cluster VPC', () => {
    const inVpc = resourcesOfType(raw, 'AWS::Lambda::Function')
      .filter(([, fn]) => fn.Properties?.VpcConfig)
      .map(([, fn]) => String(fn.Metadata?.['zerodown:handler']).replace(/^functions\/|\.ts#handler$/g, ''));
    expect(inVpc.sort()).toEqual(['check-node-ready', 'confirm-node-loss', 'snapshot-cluster', 'verify-node']);
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: testClusterModel().network.subnetIds,
        SecurityGroupIds: testClusterModel().network.securityGroupIds,
      },
    });
  });

  describe('IAM', () => {
    const statements = statementsOf(raw);

    it('never grants TerminateInstances or a load balancer Modify* on * without a condition', () => {
      const risky = statements.filter((statement) =>
        statement.actions.some(
          (action) => action === 'ec2:TerminateInstances' || /^elasticloadbalancing:Modify/.test(action),
        ),
      );
      expect(risky.length).toBeGreaterThan(0);
      for (const statement of risky) {
        if (statement.resources.includes('*')) expect(statement.Condition).toBeDefined();
      }
    });

    it('scopes every mutating action on a wildcard resource with a condition, but for the listed exceptions', () => {
      const readOnly = /^[a-z0-9-]+:(Describe|Get|List)/;
      const allowedWithoutCondition = [
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
        'ssm:CancelCommand',
        'ec2:CreateNetworkInterface',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
        // Step Functions' vended log delivery, which has no resource-level permissions.
        'logs:CreateLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:PutResourcePolicy',
      ];
      const wildcard = (resource: unknown) => JSON.stringify(resource).includes('*');
      const offenders = statements.filter(
        (statement) =>
          statement.resources.some(wildcard) &&
          !statement.Condition &&
          statement.actions.some((action) => !readOnly.test(action) && !allowedWithoutCondition.includes(action)) &&
          // Invoke on a function's own versions, and KMS on the cluster key named by ARN elsewhere in the statement.
          !statement.actions.every((action) => action === 'lambda:InvokeFunction' || action.startsWith('kms:')) &&
          // Executions of the cluster's own state machines, each named exactly; only the execution name is open.
          !statement.resources.every((resource) =>
            new RegExp(`states:.*:execution:zerodown-test-cluster-(${CLUSTER_WORKFLOWS.join('|')}):\\*`).test(
              JSON.stringify(resource),
            ),
          ) &&
          // What RunInstances uses (AMI, groups, key pair) rather than creates; what it creates is conditioned.
          !(
            statement.actions.includes('ec2:RunInstances') &&
            JSON.stringify(statement.resources).includes('launch-template/')
          ),
      );
      expect(offenders.map((statement) => `${statement.policy}: ${statement.actions.join(',')}`)).toEqual([]);
    });

    it('lets only the lock describe and stop executions, of the state machines of this cluster named exactly', () => {
      const onExecutions = statements.filter((statement) =>
        statement.actions.some((action) => action === 'states:DescribeExecution' || action === 'states:StopExecution'),
      );
      expect(onExecutions.map((statement) => statement.policy)).toEqual([expect.stringContaining('ClusterLock')]);
      expect(onExecutions[0]?.actions.sort()).toEqual(['states:DescribeExecution', 'states:StopExecution']);
      const names = onExecutions[0]?.resources.map((resource) =>
        JSON.stringify(resource).replace(/.*:execution:([^:"]+):\*.*/, '$1'),
      );
      expect(names?.sort()).toEqual(
        [...CLUSTER_WORKFLOWS].sort().map((workflow) => `zerodown-test-cluster-${workflow}`),
      );
    });

    it('lets the database snapshot touch only the model database and snapshots named and tagged for this cluster', () => {
      const ofSnapshots = statements.filter((statement) => statement.policy.includes('SnapshotDatabase'));
      const rds = ofSnapshots.filter((statement) => statement.actions.some((action) => action.startsWith('rds:')));
      const resources = (action: string) =>
        rds
          .filter((statement) => statement.actions.includes(action))
          .flatMap((statement) => statement.resources.map((resource) => JSON.stringify(resource)));
      const db = expect.stringContaining(':rds:us-east-1:');
      expect(resources('rds:CreateDBSnapshot')).toEqual([
        expect.stringMatching(/:db:zerodown-local-db"/),
        expect.stringMatching(/:snapshot:zerodown-test-cluster-\*"/),
      ]);
      expect(resources('rds:AddTagsToResource')).toEqual([
        expect.stringMatching(/:snapshot:zerodown-test-cluster-\*"/),
      ]);
      expect(resources('rds:DescribeDBSnapshots')).toEqual([db, db]);
      for (const statement of rds.filter(
        (candidate) => !candidate.actions.every((a) => a.startsWith('rds:Describe')),
      )) {
        expect(statement.Condition).toEqual({ StringEquals: { 'aws:RequestTag/zerodown:cluster': 'test-cluster' } });
      }
      expect(rds.flatMap((statement) => statement.actions).sort()).toEqual([
        'rds:AddTagsToResource',
        'rds:CreateDBSnapshot',
        'rds:DescribeDBSnapshots',
      ]);
    });

    it('lets baking image only instances of this cluster, and create, copy and remove only images tagged for it', () => {
      const baking = statements.filter((statement) => statement.policy.includes('BakeImage'));
      const on = (action: string) => baking.filter((statement) => statement.actions.includes(action));
      const tagged = { 'aws:ResourceTag/zerodown:cluster': 'test-cluster' };
      const requestTagged = { StringEquals: { 'aws:RequestTag/zerodown:cluster': 'test-cluster' } };
      expect(on('ec2:CreateImage').map((statement) => statement.Condition)).toEqual([
        { StringEquals: tagged },
        requestTagged,
      ]);
      expect(on('ec2:CopyImage').map((statement) => statement.Condition)).toEqual([
        { StringEquals: tagged },
        requestTagged,
      ]);
      expect(JSON.stringify(on('ec2:CopyImage')[1]?.resources)).toContain(':ec2:eu-west-1::image/*');
      expect(on('ec2:DeregisterImage')[0]?.Condition).toEqual({
        StringEquals: tagged,
        Null: { 'aws:ResourceTag/zerodown:baked-from': 'false' },
      });
      expect(on('ec2:DeleteSnapshot')[0]?.Condition).toEqual({ StringEquals: tagged });
      const parameters = JSON.stringify(on('ssm:PutParameter')[0]?.resources);
      expect(parameters).toContain(':ssm:us-east-1:');
      expect(parameters).toContain('parameter/zerodown/test-cluster/ami');
      expect(parameters).toContain(':ssm:eu-west-1:');
      expect(parameters).toContain('parameter/zerodown/test-cluster/dr-ami');
      expect(on('ssm:PutParameter')[0]?.resources).toHaveLength(2);
    });

    it('lets snapshot-cluster write only the version record, in the cluster region and the DR region', () => {
      const writes = statements.filter((statement) => statement.actions.includes('ssm:PutParameter'));
      const ofSnapshot = writes.filter((statement) => statement.policy.includes('SnapshotCluster'));
      expect(ofSnapshot).toHaveLength(1);
      expect(ofSnapshot[0]?.actions).toEqual(['ssm:PutParameter']);
      expect(ofSnapshot[0]?.Condition).toBeUndefined();
      expect(ofSnapshot[0]?.resources).toEqual(
        ['us-east-1', 'eu-west-1'].map((region) => ({
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              `:ssm:${region}:`,
              { Ref: 'AWS::AccountId' },
              ':parameter/zerodown/clusters/test-cluster/version',
            ],
          ],
        })),
      );
    });

    it('lets adoption write only a permanent role or lost, never surge, on instances of this cluster', () => {
      const tagging = statements.filter(
        (statement) => statement.actions.includes('ec2:CreateTags') && statement.policy.includes('AdoptReplacement'),
      );
      expect(tagging).toHaveLength(1);
      expect(tagging[0]?.Condition).toEqual({
        StringEquals: {
          'aws:ResourceTag/zerodown:cluster': 'test-cluster',
          'aws:RequestTag/zerodown:role': ['manager', 'worker', 'lost'],
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['zerodown:role', 'zerodown:slot', 'Name'] },
      });
    });

    it('terminates only surge nodes of this cluster', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'ec2:TerminateInstances',
              Condition: {
                StringEquals: {
                  'aws:ResourceTag/zerodown:cluster': 'test-cluster',
                  'aws:ResourceTag/zerodown:role': 'surge',
                },
              },
            }),
          ]),
        },
      });
    });

    it('launches only instances tagged for this cluster as surge nodes, from its launch template and subnets', () => {
      const launches = statements.filter((statement) => statement.actions.includes('ec2:RunInstances'));
      const created = launches.find((statement) => statement.Condition);
      expect(created?.Condition).toEqual({
        StringEquals: { 'aws:RequestTag/zerodown:cluster': 'test-cluster', 'aws:RequestTag/zerodown:role': 'surge' },
      });
      const used = JSON.stringify(launches.find((statement) => !statement.Condition)?.resources);
      expect(used).toContain(`launch-template/${testClusterModel().surge.launchTemplateId}`);
      for (const subnet of testClusterModel().surge.subnetIds) expect(used).toContain(`subnet/${subnet}`);
    });

    it('modifies only the cluster listener, creates rules only on it, and sends commands only to instances tagged with the cluster', () => {
      const modify = statements.filter((statement) =>
        statement.actions.includes('elasticloadbalancing:ModifyListener'),
      );
      expect(modify.map((statement) => statement.resources)).toEqual([[testClusterModel().traffic.listenerArn]]);
      const create = statements.filter((statement) => statement.actions.includes('elasticloadbalancing:CreateRule'));
      expect(create.map((statement) => [statement.resources[0], statement.Condition])).toEqual([
        [
          testClusterModel().traffic.listenerArn,
          { StringEquals: { 'aws:RequestTag/zerodown:cluster': 'test-cluster' } },
        ],
      ]);
      const send = statements.filter(
        (statement) => statement.actions.includes('ssm:SendCommand') && statement.Condition,
      );
      expect(send[0]?.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/zerodown:cluster': 'test-cluster' } });
    });
  });

  describe('other traffic set-ups', () => {
    function synth(model: ClusterModelInput) {
      const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Variant', {
        env: { region: model.region, account: '123456789012' },
      });
      new ZeroDownCluster(stack, 'Cluster', { model });
      return statementsOf(Template.fromStack(stack).toJSON() as never);
    }

    it('modifies the listener rule, not the listener, when the cluster is served by a rule', () => {
      const model = testClusterModel();
      const ruleArn = `${model.traffic.listenerArn.replace(':listener/', ':listener-rule/')}/9683b2d02a6cabee`;
      const statements = synth({ ...model, traffic: { ...model.traffic, ruleArn } });
      const modify = statements.filter((statement) => statement.actions.some((action) => action.includes(':Modify')));
      expect(modify.map((statement) => [statement.actions, statement.resources, statement.Condition])).toEqual([
        [['elasticloadbalancing:ModifyRule'], [ruleArn], undefined],
        // The rules that expose services follow the weights, and only those that carry the cluster tag.
        [
          ['elasticloadbalancing:ModifyRule'],
          [`${model.traffic.listenerArn.replace(':listener/', ':listener-rule/')}/*`],
          { StringEquals: { 'aws:ResourceTag/zerodown:cluster': 'test-cluster' } },
        ],
      ]);
    });

    it('behind a second listener, modifies both listeners and registers only in the target groups of the slots', () => {
      const model = testClusterModel();
      const traffic = model.traffic;
      if (traffic.strategy !== 'weighted-target-groups') throw new Error('weighted test model expected');
      const managementListener = traffic.listenerArn.replace(/\/[0-9a-f]+$/, '/0000000000009443');
      const managementGroup = (slot: string) =>
        (traffic.slots.find((candidate) => candidate.name === slot)?.targetGroupArn ?? '').replace(
          /targetgroup\/[\w-]+\//,
          `targetgroup/mgmt-${slot}/`,
        );
      const slots = traffic.slots.map((slot) => slot.name);
      const statements = synth({
        ...model,
        traffic: {
          ...traffic,
          additionalListeners: [
            {
              name: 'management',
              listenerArn: managementListener,
              targetGroups: Object.fromEntries(slots.map((slot) => [slot, managementGroup(slot)])),
            },
          ],
        },
      });
      const modify = statements.filter((statement) =>
        statement.actions.includes('elasticloadbalancing:ModifyListener'),
      );
      expect(modify.length).toBeGreaterThan(0);
      for (const statement of modify) expect(statement.resources).toEqual([traffic.listenerArn, managementListener]);

      const allGroups = [
        ...traffic.slots.map((slot) => slot.targetGroupArn),
        ...slots.map((slot) => managementGroup(slot)),
      ];
      const surgeGroups = [
        traffic.slots.find((slot) => slot.name === traffic.surgeSlot)?.targetGroupArn,
        managementGroup(traffic.surgeSlot),
      ];
      const membership = statements.filter((statement) =>
        statement.actions.some((action) => /RegisterTargets|DeregisterTargets/.test(action)),
      );
      expect(membership.length).toBeGreaterThan(0);
      for (const statement of membership) {
        // Adoption moves a node between any slots; launch and retirement touch only the surge slot's groups.
        expect([JSON.stringify(allGroups), JSON.stringify(surgeGroups)]).toContain(JSON.stringify(statement.resources));
      }
    });

    it('registers and deregisters only in the cluster target group with the single-target-group strategy', () => {
      const model = testClusterModel();
      const targetGroupArn =
        model.traffic.strategy === 'weighted-target-groups' ? (model.traffic.slots[0]?.targetGroupArn ?? '') : '';
      const statements = synth({
        ...model,
        nodes: model.nodes.map(({ slot: _slot, ...node }) => node),
        traffic: { strategy: 'single-target-group', listenerArn: model.traffic.listenerArn, targetGroupArn },
      });
      const membership = statements.filter((statement) =>
        statement.actions.some((action) => /RegisterTargets|DeregisterTargets/.test(action)),
      );
      for (const statement of membership) expect(statement.resources).toEqual([targetGroupArn]);
    });
  });
});

describe('DR stack', () => {
  const raw = synthesizedApp().stack(drStackIdFor('test-cluster')).template;
  const statements = statementsOf(raw);

  it('terminates only instances tagged with the cluster and the dr role', () => {
    const terminate = statements.filter((statement) => statement.actions.includes('ec2:TerminateInstances'));
    expect(terminate).toHaveLength(1);
    expect(terminate[0]?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/zerodown:cluster': 'test-cluster', 'aws:ResourceTag/zerodown:role': 'dr' },
    });
  });

  it('launches only instances that carry the cluster and dr role tags', () => {
    const launches = statements.filter(
      (statement) => statement.actions.includes('ec2:RunInstances') && statement.Condition !== undefined,
    );
    expect(launches).toHaveLength(1);
    expect(launches[0]?.Condition).toEqual({
      StringEquals: { 'aws:RequestTag/zerodown:cluster': 'test-cluster', 'aws:RequestTag/zerodown:role': 'dr' },
    });
  });

  it('changes only the cluster record, in the cluster hosted zone only', () => {
    const route53 = statements.filter((statement) => statement.actions.some((action) => action.startsWith('route53:')));
    const zone = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':route53:::hostedzone/Z0123456789ABCDEFGHIJ']],
    };
    expect(route53.flatMap((statement) => statement.resources)).toEqual([zone, zone]);
    const change = route53.find((statement) => statement.actions.includes('route53:ChangeResourceRecordSets'));
    expect(change?.actions).toEqual(['route53:ChangeResourceRecordSets']);
    expect(change?.Condition).toEqual({
      'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['api.example.com'] },
    });
  });

  it('lets dr-nodes read the version record in the DR region, and write no parameter', () => {
    const onRecord = statements.filter((statement) =>
      JSON.stringify(statement.resources).includes('parameter/zerodown/clusters/test-cluster/version'),
    );
    expect(onRecord).toHaveLength(1);
    expect(onRecord[0]?.policy).toContain('DrNodes');
    expect(onRecord[0]?.actions).toEqual(['ssm:GetParameter']);
    expect(onRecord[0]?.resources).toEqual([
      {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':ssm:eu-west-1:',
            { Ref: 'AWS::AccountId' },
            ':parameter/zerodown/clusters/test-cluster/version',
          ],
        ],
      },
    ]);
    expect(statements.filter((statement) => statement.actions.includes('ssm:PutParameter'))).toEqual([]);
  });

  it('registers DR nodes only in the DR target group', () => {
    const targets = statements.filter((statement) =>
      statement.actions.includes('elasticloadbalancing:RegisterTargets'),
    );
    expect(targets.flatMap((statement) => statement.resources)).toEqual([
      'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/apim-dr/a3e2d6bc24d8a06a',
    ]);
  });
});
