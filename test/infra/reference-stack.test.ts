import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildReferenceApp, REFERENCE_STACK_ID } from '../../cdk/app';
import { standInsForTokens } from '../../cdk/model-tokens';
import { PROJECT_ROOT } from '../../cdk/paths';
import { REFERENCE_NODE_PORT } from '../../cdk/stacks/reference-cluster-stack';
import { ClusterModelError } from '../../functions/domain/errors';
import { cfnLintCommand } from '../../local/python-tools';

/**
 * The reference cluster stack, synthesized offline as `cdk synth -c reference=true` does (cdk-nag runs, so reaching
 * the assertions means it found nothing unacknowledged).
 */
const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-reference-'));
const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
buildReferenceApp(app, 'eu-west-1');
const assembly = app.synth();
const artifact = assembly.getStackByName(REFERENCE_STACK_ID);
const raw = artifact.template as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
const template = Template.fromJSON(raw);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

function storedModelText(): string {
  const [, parameter] =
    Object.entries(raw.Resources).find(
      ([id, resource]) => resource.Type === 'AWS::SSM::Parameter' && id.startsWith('ClusterModel'),
    ) ?? [];
  return JSON.stringify(parameter?.Properties?.Value);
}

describe('the reference cluster stack', () => {
  it('passes cfn-lint', () => {
    const cfnLint = cfnLintCommand();
    const output = execFileSync(
      cfnLint.command,
      [...cfnLint.args, '--format', 'json', path.join(outdir, artifact.templateFile)],
      { cwd: PROJECT_ROOT, encoding: 'utf8' },
    );
    expect(JSON.parse(output)).toEqual([]);
  });

  it('builds a VPC with private node subnets, one NAT gateway and the endpoints the probes and agents use', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    const endpoints = Object.values(raw.Resources)
      .filter((resource) => resource.Type === 'AWS::EC2::VPCEndpoint')
      .map((resource) => JSON.stringify(resource.Properties?.ServiceName));
    for (const service of [
      '.ssm"',
      '.ssmmessages"',
      '.ec2messages"',
      '.ec2"',
      '.elasticloadbalancing"',
      '.monitoring"',
    ]) {
      expect(endpoints.some((name) => name.includes(service))).toBe(true);
    }
  });

  it('weighs one target group per slot and a surge group on the listener: a serves, b and surge wait', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 3);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      DefaultActions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: { Ref: Match.stringLikeRegexp('TargetGroupA') }, Weight: 100 },
              { TargetGroupArn: { Ref: Match.stringLikeRegexp('TargetGroupB') }, Weight: 0 },
              { TargetGroupArn: { Ref: Match.stringLikeRegexp('TargetGroupSurge') }, Weight: 0 },
            ],
          },
        },
      ],
    });
  });

  it('launches two tagged nodes from a launch template that requires IMDSv2 and shows the tags to the node', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', InstanceMetadataTags: 'enabled' },
      }),
    });
    // Slot a serves (weight 100), so the passive node in slot b is the runbook's manager.
    for (const [slot, role] of [
      ['a', 'worker'],
      ['b', 'manager'],
    ]) {
      template.hasResourceProperties('AWS::EC2::Instance', {
        Tags: Match.arrayWith([
          { Key: 'zerodown:cluster', Value: 'reference' },
          { Key: 'zerodown:role', Value: role },
          { Key: 'zerodown:slot', Value: slot },
        ]),
      });
    }
    const userData = JSON.stringify(
      Object.values(raw.Resources).find((resource) => resource.Type === 'AWS::EC2::LaunchTemplate')?.Properties,
    );
    expect(userData).toContain('systemctl enable --now zerodown-heartbeat.timer');
    expect(userData).toContain('systemctl enable --now zerodown-node-server.service');
    expect(userData).toContain(`http://127.0.0.1:${REFERENCE_NODE_PORT}/health|200`);
  });

  it("wires zerodown to the stack's own resources: the stored model names them, and no stand-in is left", () => {
    const stored = storedModelText();
    for (const reference of ['NodeA', 'NodeB', 'LoadBalancerHttp', 'TargetGroupA', 'LaunchTemplate', 'NodeRole']) {
      expect(stored).toContain(reference);
    }
    expect(stored).not.toMatch(/000000000000|token-|\/token\//);
    // The nodes' role carries the node kit's policy.
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [{ Ref: Match.stringLikeRegexp('NodeKitNodePolicy') }],
    });
  });
});

describe('standInsForTokens', () => {
  const stack = new Stack(new App(), 'Tokens', { env: { region: 'eu-west-1' } });
  const token = stack.resolve('x') === 'x' ? stack.stackId : '';

  it('swaps a token in an id or ARN field for a stand-in of its kind, and back', () => {
    const { validatable, restore } = standInsForTokens(
      { region: 'eu-west-1', nodes: [{ instanceId: token }] },
      (model) => model.region,
    );
    expect(validatable.nodes[0]?.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(restore(validatable).nodes[0]?.instanceId).toBe(token);
  });

  it('refuses a token anywhere else, naming the field', () => {
    expect(() => standInsForTokens({ region: 'eu-west-1', name: token }, (model) => model.region)).toThrow(
      ClusterModelError,
    );
    expect(() => standInsForTokens({ region: token }, (model) => model.region)).toThrow(
      /region must be a region name, not a token/,
    );
  });
});
