import { App, Stack } from 'aws-cdk-lib';
import { ZeroDownCluster } from '../../cdk/constructs/zerodown-cluster';
import { NODE_KIT_COMMAND_KINDS, parseClusterModel } from '../../functions/domain/cluster-model';
import { ClusterModelError } from '../../functions/domain/errors';
import { OPERATOR_VALUE_OF, OPERATOR_VALUE_PATTERNS } from '../../functions/domain/operator-values';
import { stateMachineNameOf } from '../../functions/domain/workflows';
import { KIT_DOCUMENT_VERSION, kitDocumentName } from '../../kits/node/documents';
import { nodeConfigOf, nodeTags } from '../../kits/node/node-kit';
import { type CfnTemplate, resourcesOfType } from '../../local/template';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK, testClusterModel } from '../harness/test-app';

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

interface DocumentProperties {
  Name: string;
  DocumentType: string;
  UpdateMethod: string;
  Content: {
    parameters: Record<string, { type: string; allowedPattern?: string }>;
    mainSteps: { action: string; inputs: { runCommand: string[]; timeoutSeconds: string } }[];
  };
}

const raw = synthesizedApp().stack(TEST_CLUSTER_STACK).template;
const model = parseClusterModel(testClusterModel());
const documents = resourcesOfType(raw, 'AWS::SSM::Document').map(
  ([, resource]) => resource.Properties as unknown as DocumentProperties,
);

function storedModel(template: CfnTemplate) {
  const [, parameter] =
    resourcesOfType(template, 'AWS::SSM::Parameter').find(([id]) => id.startsWith('ClusterModel')) ?? [];
  return JSON.parse(String(parameter?.Properties?.Value)) as ReturnType<typeof parseClusterModel>;
}

function nodePolicyStatements(template: CfnTemplate): Statement[] {
  const [, policy] = resourcesOfType(template, 'AWS::IAM::ManagedPolicy').find(([id]) => id.includes('NodeKit')) ?? [];
  return (policy?.Properties?.PolicyDocument as { Statement: Statement[] } | undefined)?.Statement ?? [];
}

function actionsOf(statement: Statement | undefined): string[] {
  return [statement?.Action ?? []].flat();
}

/** The node policy of the test cluster's model, made a single-target-group cluster (nothing fails over there). */
function singleTargetGroupNodePolicy(): Statement[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Kit', { env: { region: 'us-east-1', account: '123456789012' } });
  const input = testClusterModel();
  const targetGroupArn =
    input.traffic.strategy === 'weighted-target-groups' ? (input.traffic.slots[0]?.targetGroupArn ?? '') : '';
  new ZeroDownCluster(stack, 'Cluster', {
    model: {
      ...input,
      nodes: input.nodes.map(({ slot: _slot, ...node }) => node),
      traffic: { strategy: 'single-target-group', listenerArn: input.traffic.listenerArn, targetGroupArn },
    },
  });
  return nodePolicyStatements(app.synth().getStackByName('Kit').template as CfnTemplate);
}

describe('NodeKit', () => {
  it('creates one document per command that uses the kit, named by its content and pinned to version 1', () => {
    expect(documents.map((document) => document.Name).sort()).toEqual(
      NODE_KIT_COMMAND_KINDS.map((kind) => kitDocumentName(model.name, kind)).sort(),
    );
    for (const document of documents) {
      expect(document).toMatchObject({ DocumentType: 'Command', UpdateMethod: 'Replace' });
      expect(document.Name).toMatch(/^zerodown-test-cluster-[a-z-]+-[0-9a-f]{12}$/);
    }
    const stored = storedModel(raw);
    for (const kind of NODE_KIT_COMMAND_KINDS) {
      expect(stored.commands[kind]).toMatchObject({
        documentName: kitDocumentName(model.name, kind),
        documentVersion: KIT_DOCUMENT_VERSION,
        parameters: { ExecutionTimeout: [String(model.commands[kind]?.timeoutSeconds)] },
      });
      expect(stored.commands[kind]).not.toHaveProperty('kit');
    }
  });

  it("gives every document parameter an allowedPattern, the workflow's own pattern for an operator value", () => {
    const stored = storedModel(raw);
    for (const kind of NODE_KIT_COMMAND_KINDS) {
      const document = documents.find((candidate) => candidate.Name === stored.commands[kind]?.documentName);
      const parameters = Object.entries(document?.Content.parameters ?? {});
      expect(parameters.length).toBeGreaterThan(0);
      for (const [, parameter] of parameters) expect(parameter.allowedPattern).toMatch(/^\^.*\$$/);
      const input = stored.commands[kind]?.inputParameter;
      if (input) {
        expect(document?.Content.parameters[input]?.allowedPattern).toBe(
          OPERATOR_VALUE_PATTERNS[OPERATOR_VALUE_OF[kind]].source,
        );
      }
    }
  });

  it('runs a fixed command line that quotes the value and fails loudly when the control script is missing', () => {
    for (const document of documents) {
      const [step] = document.Content.mainSteps;
      expect(step?.action).toBe('aws:runShellScript');
      expect(step?.inputs.timeoutSeconds).toBe('{{ ExecutionTimeout }}');
      const script = step?.inputs.runCommand.join('\n') ?? '';
      expect(script).toMatch(/^set -eu\n/);
      expect(script).toMatch(/exit 127/);
      // The only substitutions are parameters the document declares, each inside single quotes.
      for (const [, name] of script.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
        expect(Object.keys(document.Content.parameters)).toContain(name);
      }
      for (const line of script.split('\n').filter((candidate) => candidate.includes('{{'))) {
        expect(line).toMatch(/ '\{\{ \w+ \}\}'$/);
      }
    }
  });

  it('lets run-command send exactly the kit documents', () => {
    const statements = resourcesOfType(raw, 'AWS::IAM::Policy').flatMap(
      ([, policy]) => (policy.Properties?.PolicyDocument as { Statement: Statement[] } | undefined)?.Statement ?? [],
    );
    const sendable = statements
      .filter((statement) => [statement.Action].flat().includes('ssm:SendCommand'))
      .flatMap((statement) => [statement.Resource].flat())
      .map((resource) => JSON.stringify(resource))
      .filter((resource) => resource.includes(':document/'));
    expect(sendable).toHaveLength(NODE_KIT_COMMAND_KINDS.length);
    for (const kind of NODE_KIT_COMMAND_KINDS) {
      expect(sendable.some((resource) => resource.includes(`:document/${kitDocumentName(model.name, kind)}`))).toBe(
        true,
      );
    }
  });

  it('scopes every node permission: the heartbeat namespace, the cluster tag, the artifact bucket', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Kit', { env: { region: 'us-east-1', account: '123456789012' } });
    new ZeroDownCluster(stack, 'Cluster', { model: testClusterModel(), artifactBuckets: ['apim-artifacts'] });
    const statements = nodePolicyStatements(app.synth().getStackByName('Kit').template as CfnTemplate);
    const bySid = Object.fromEntries(statements.map((statement) => [statement.Sid, statement]));
    expect(Object.keys(bySid).sort()).toEqual([
      'Heartbeat',
      'PeerWatchFailover',
      'PeerWatchList',
      'ReadArtifacts5',
      'SsmAgentMessages',
      'SsmAgentRegistration',
    ]);
    expect(bySid.Heartbeat).toMatchObject({
      Action: 'cloudwatch:PutMetricData',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'ZeroDown' } },
    });
    expect(bySid.SsmAgentRegistration).toMatchObject({
      Condition: { StringEquals: { 'aws:ResourceTag/zerodown:cluster': 'test-cluster' } },
    });
    expect(JSON.stringify(bySid.ReadArtifacts5?.Resource)).toMatch(/:s3:::apim-artifacts\/\*"/);
    expect(bySid.ReadArtifacts5?.Action).toBe('s3:GetObject');
    // Only the agent's channels, which take no resource, are unscoped.
    for (const action of [bySid.SsmAgentMessages?.Action].flat()) {
      expect(String(action)).toMatch(/^(ec2messages|ssmmessages):/);
    }
  });

  it("lets the peer watch start its cluster's failover state machine and nothing else, and list the instances", () => {
    const statements = nodePolicyStatements(raw);
    expect(statements.length).toBeGreaterThan(0);
    const failoverName = stateMachineNameOf(model.name, 'failover');
    expect(failoverName).toBe('zerodown-test-cluster-failover');
    const failover = resourcesOfType(raw, 'AWS::StepFunctions::StateMachine').filter(
      ([, resource]) => resource.Properties?.StateMachineName === failoverName,
    );
    expect(failover).toHaveLength(1);
    // Built from the name, as the launch template's user data carries it: the partition, the stack's region and
    // account, and the name the state machine is synthesized with.
    const failoverArn = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:states:${model.region}:`,
          { Ref: 'AWS::AccountId' },
          `:stateMachine:${failover[0]?.[1].Properties?.StateMachineName}`,
        ],
      ],
    };

    const starts = statements.filter((statement) => actionsOf(statement).includes('states:StartExecution'));
    expect(starts).toHaveLength(1);
    expect(actionsOf(starts[0])).toEqual(['states:StartExecution']);
    expect(starts[0]?.Resource).toEqual(failoverArn);
    expect(starts[0]?.Condition).toBeUndefined();
    // No other statement grants a Step Functions action, nor any action through a wildcard.
    const stepFunctions = statements.filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('states:')),
    );
    expect(stepFunctions).toEqual(starts);
    expect(statements.flatMap(actionsOf).filter((action) => action.includes('*'))).toEqual([]);

    // The peer list is the only EC2 read (ec2messages is the SSM agent's channel, another service).
    expect(statements.flatMap(actionsOf).filter((action) => action.startsWith('ec2:'))).toEqual([
      'ec2:DescribeInstances',
    ]);
    const list = statements.filter((statement) => actionsOf(statement).includes('ec2:DescribeInstances'));
    expect(list).toHaveLength(1);
    expect(actionsOf(list[0])).toEqual(['ec2:DescribeInstances']);
  });

  it('gives the nodes of a single-target-group cluster no peer watch permissions', () => {
    const statements = singleTargetGroupNodePolicy();
    expect(statements.map((statement) => statement.Sid)).toContain('Heartbeat');
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((action) => action.startsWith('states:'))).toEqual([]);
    expect(actions.filter((action) => action.startsWith('ec2:'))).toEqual([]);
  });

  it('refuses a kit command for a kind it has no document for, at synthesis', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Kit', { env: { region: 'us-east-1', account: '123456789012' } });
    const input = testClusterModel();
    expect(
      () =>
        new ZeroDownCluster(stack, 'Cluster', {
          model: { ...input, commands: { ...input.commands, expose: { kit: 'node' } } },
        }),
    ).toThrow(ClusterModelError);
  });

  it("configures the heartbeat with the model's checks against the node itself, and tags the node", () => {
    expect(nodeConfigOf(model)).toBe(
      [
        'ZERODOWN_CLUSTER=test-cluster',
        'ZERODOWN_REGION=us-east-1',
        'ZERODOWN_HEALTH_CHECKS="http://127.0.0.1:9443/health|200"',
        '',
      ].join('\n'),
    );
    expect(nodeTags('test-cluster', { role: 'manager', slot: 'a' })).toEqual({
      'zerodown:cluster': 'test-cluster',
      'zerodown:role': 'manager',
      'zerodown:slot': 'a',
    });
  });
});
