import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import {
  buildReferenceApp,
  DR_REGION_CONTEXT_KEY,
  drStackIdFor,
  HOSTED_ZONE_ID_CONTEXT_KEY,
  RECORD_NAME_CONTEXT_KEY,
  REFERENCE_DR_SITE_STACK_ID,
  REFERENCE_STACK_ID,
  referenceDrFromContext,
} from '../../cdk/app';
import { standInsForTokens } from '../../cdk/model-tokens';
import { PROJECT_ROOT } from '../../cdk/paths';
import { REFERENCE_NODE_PORT } from '../../cdk/stacks/reference-site';
import { ClusterModelError } from '../../functions/domain/errors';
import { cfnLintCommand } from '../../local/python-tools';

/**
 * The reference cluster's DR variant, synthesized offline as `cdk synth -c reference=true -c drRegion=... -c
 * hostedZoneId=... -c recordName=...` does (cdk-nag runs, so reaching the assertions means it found nothing
 * unacknowledged): the DR site and the DR stack in the DR region, the primary in its own.
 */
const PRIMARY_REGION = 'eu-west-1';
const DR_REGION = 'us-west-2';
const HOSTED_ZONE_ID = 'Z0123456789ABCDEFGHIJ';
const RECORD_NAME = 'app.example.com';
const DR_STACK_ID = drStackIdFor('reference');

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-reference-dr-'));
const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
buildReferenceApp(app, PRIMARY_REGION, { region: DR_REGION, hostedZoneId: HOSTED_ZONE_ID, recordName: RECORD_NAME });
const assembly = app.synth();

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

type Resource = { Type: string; Properties?: Record<string, unknown> };
type CfnTemplate = { Resources: Record<string, Resource>; Outputs?: Record<string, { Value: unknown }> };

function templateOf(stackName: string): CfnTemplate {
  return assembly.getStackByName(stackName).template as CfnTemplate;
}
const site = templateOf(REFERENCE_DR_SITE_STACK_ID);
const primary = templateOf(REFERENCE_STACK_ID);
const drStack = templateOf(DR_STACK_ID);

/**
 * A value as the names of what it refers to: `Ref` and `Fn::GetAtt` become `<stack>!<logical id>[.attribute]`, and an
 * output read from another stack (`Fn::GetStackOutput`) becomes what that output holds, checked to be in the region
 * the stack is deployed to. So an assertion sees which resource of which stack a value comes from.
 */
function referenceOf(stackName: string, value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if ('Ref' in intrinsic) return `${stackName}!${String(intrinsic.Ref)}`;
  if ('Fn::GetAtt' in intrinsic) {
    const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    return `${stackName}!${id}.${attribute}`;
  }
  if ('Fn::GetStackOutput' in intrinsic) {
    const { StackName, Region, OutputName } = intrinsic['Fn::GetStackOutput'] as {
      StackName: string;
      Region: string;
      OutputName: string;
    };
    const producer = assembly.getStackByName(StackName);
    expect(Region).toBe(producer.environment.region);
    const output = (producer.template as CfnTemplate).Outputs?.[OutputName];
    expect(output).toBeDefined();
    return referenceOf(StackName, output?.Value);
  }
  if ('Fn::Join' in intrinsic) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => referenceOf(stackName, part)).join(separator);
  }
  throw new Error(`Unexpected value in ${stackName}: ${JSON.stringify(value)}`);
}

interface StoredDrBlock {
  region: string;
  launchTemplateId: string;
  imageParameter: string;
  subnetIds: string[];
  securityGroupIds: string[];
  loadBalancerArn: string;
  targetGroupArn: string;
  hostedZoneId: string;
  recordName: string;
  routing: string;
}
interface StoredModel {
  region: string;
  nodes: { instanceId: string }[];
  traffic: { listenerArn: string };
  dr: StoredDrBlock;
}

/** The cluster model a stack stores, with every id and ARN as the name of the resource it comes from. */
function storedModel(stackName: string, template: CfnTemplate): StoredModel {
  const [, parameter] =
    Object.entries(template.Resources).find(
      ([, resource]) =>
        resource.Type === 'AWS::SSM::Parameter' && resource.Properties?.Name === '/zerodown/clusters/reference',
    ) ?? [];
  expect(parameter).toBeDefined();
  return JSON.parse(referenceOf(stackName, parameter?.Properties?.Value)) as StoredModel;
}

/** The logical id of the one resource of a type whose id starts with `prefix`. */
function logicalId(template: CfnTemplate, type: string, prefix: string): string {
  const ids = Object.entries(template.Resources)
    .filter(([id, resource]) => resource.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

const inSite = (type: string, prefix: string) => `${REFERENCE_DR_SITE_STACK_ID}!${logicalId(site, type, prefix)}`;

function interfaceEndpointServices(template: CfnTemplate): string[] {
  return (
    Object.values(template.Resources)
      .filter((resource) => resource.Type === 'AWS::EC2::VPCEndpoint')
      // The service's own name, without the prefix and the region (a literal, or a reference to AWS::Region).
      .map((resource) => referenceOf('', resource.Properties?.ServiceName).replace(/^com\.amazonaws\.[^.]*\./, ''))
      .sort()
  );
}

describe('the reference cluster with a DR site', () => {
  it('puts the DR site and the DR stack in the DR region, and the cluster in its own', () => {
    const regions = Object.fromEntries(assembly.stacks.map((stack) => [stack.stackName, stack.environment.region]));
    expect(regions).toEqual({
      [REFERENCE_DR_SITE_STACK_ID]: DR_REGION,
      [REFERENCE_STACK_ID]: PRIMARY_REGION,
      [DR_STACK_ID]: DR_REGION,
    });
    // Deployed in that order, so each reads outputs that exist.
    expect(assembly.getStackByName(REFERENCE_STACK_ID).dependencies.map((dep) => dep.id)).toContain(
      REFERENCE_DR_SITE_STACK_ID,
    );
    expect(assembly.getStackByName(DR_STACK_ID).dependencies.map((dep) => dep.id)).toEqual(
      expect.arrayContaining([REFERENCE_STACK_ID, REFERENCE_DR_SITE_STACK_ID]),
    );
  });

  it('passes cfn-lint and cdk-nag', () => {
    const cfnLint = cfnLintCommand();
    const files = assembly.stacks.map((stack) => path.join(outdir, stack.templateFile));
    const output = execFileSync(cfnLint.command, [...cfnLint.args, '--format', 'json', ...files], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual([]);
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('gives a reason with every acknowledgement in the DR site', () => {
    const metadata = JSON.parse(
      fs.readFileSync(path.join(outdir, `${REFERENCE_DR_SITE_STACK_ID}.metadata.json`), 'utf8'),
    ) as Record<string, { type: string; data: Record<string, string> }[]>;
    const reasons = Object.values(metadata).flatMap((entries) =>
      entries
        .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
        .flatMap((entry) => Object.values(entry.data)),
    );
    expect(reasons.length).toBeGreaterThan(0);
    for (const reason of reasons) expect(reason.trim().split(/\s+/).length).toBeGreaterThanOrEqual(8);
  });
});

describe('the DR site', () => {
  const template = Template.fromJSON(site);

  it('runs no instance: region-failover launches the DR nodes', () => {
    template.resourceCountIs('AWS::EC2::Instance', 0);
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 0);
  });

  it('has the network of the primary: private node subnets, one NAT gateway, the same endpoints', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.hasResourceProperties('AWS::EC2::Subnet', {
      MapPublicIpOnLaunch: false,
      Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]),
    });
    expect(interfaceEndpointServices(site)).toEqual(interfaceEndpointServices(primary));
    expect(interfaceEndpointServices(site)).toHaveLength(8);
  });

  it('has a load balancer whose listener forwards to one empty target group for the DR nodes', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: REFERENCE_NODE_PORT,
      HealthCheckPath: '/health',
      Targets: Match.absent(),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: Match.stringLikeRegexp('TargetGroupDr') } }],
    });
  });

  it('launches from a template whose AMI comes from the AMI parameter, and boots a DR node', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Name: '/zerodown/reference/ami',
      DataType: 'aws:ec2:image',
      Value: { Ref: Match.stringLikeRegexp('SsmParameterValueawsserviceamiamazonlinuxlatest') },
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', InstanceMetadataTags: 'enabled' },
        IamInstanceProfile: Match.anyValue(),
      }),
    });
    const userData = JSON.stringify(
      Object.values(site.Resources).find((resource) => resource.Type === 'AWS::EC2::LaunchTemplate')?.Properties,
    );
    expect(userData).toContain('role=$(metadata tags/instance/zerodown:role)');
    expect(userData).toContain('systemctl enable --now zerodown-node-server.service');
    // No manager to sync from, no heartbeat: the primary's alarms watch the primary's slots.
    expect(userData).not.toContain('manager-address');
    expect(userData).not.toContain('zerodown-heartbeat');
  });
});

describe("the primary's model", () => {
  const model = storedModel(REFERENCE_STACK_ID, primary);

  it("names the DR site's own resources in its dr block, read from the DR site's outputs", () => {
    expect(model.dr).toEqual({
      region: DR_REGION,
      launchTemplateId: inSite('AWS::EC2::LaunchTemplate', 'LaunchTemplate'),
      launchTemplateVersion: '$Latest',
      imageParameter: '/zerodown/reference/ami',
      subnetIds: Object.entries(site.Resources)
        .filter(([id, resource]) => resource.Type === 'AWS::EC2::Subnet' && id.startsWith('Vpcnodes'))
        .map(([id]) => `${REFERENCE_DR_SITE_STACK_ID}!${id}`),
      securityGroupIds: [`${inSite('AWS::EC2::SecurityGroup', 'ProbeSecurityGroup')}.GroupId`],
      nodeCount: 2,
      loadBalancerArn: inSite('AWS::ElasticLoadBalancingV2::LoadBalancer', 'LoadBalancer'),
      targetGroupArn: inSite('AWS::ElasticLoadBalancingV2::TargetGroup', 'TargetGroupDr'),
      hostedZoneId: HOSTED_ZONE_ID,
      recordName: RECORD_NAME,
      routing: 'failover',
      instanceRoleArn: `${inSite('AWS::IAM::Role', 'NodeRole')}.Arn`,
    });
  });

  it('keeps its own resources everywhere else', () => {
    expect(model.region).toBe(PRIMARY_REGION);
    expect(model.nodes.map((node) => node.instanceId)).toEqual([
      `${REFERENCE_STACK_ID}!NodeA`,
      `${REFERENCE_STACK_ID}!NodeB`,
    ]);
  });
});

describe("the cluster's DNS name", () => {
  it('has the two failover alias records region-failover swaps: PRIMARY on the primary, SECONDARY on the DR site', () => {
    const records = Object.values(primary.Resources).filter((resource) => resource.Type === 'AWS::Route53::RecordSet');
    expect(records).toHaveLength(2);
    const byFailover = Object.fromEntries(
      records.map((record) => {
        const properties = record.Properties ?? {};
        const alias = properties.AliasTarget as Record<string, unknown>;
        expect(properties).toMatchObject({ HostedZoneId: HOSTED_ZONE_ID, Name: RECORD_NAME, Type: 'A' });
        expect(alias.EvaluateTargetHealth).toBe(false);
        return [
          properties.Failover,
          [referenceOf(REFERENCE_STACK_ID, alias.DNSName), referenceOf(REFERENCE_STACK_ID, alias.HostedZoneId)],
        ];
      }),
    );
    const primaryBalancer = `${REFERENCE_STACK_ID}!${logicalId(primary, 'AWS::ElasticLoadBalancingV2::LoadBalancer', 'LoadBalancer')}`;
    const drBalancer = inSite('AWS::ElasticLoadBalancingV2::LoadBalancer', 'LoadBalancer');
    expect(byFailover).toEqual({
      PRIMARY: [`${primaryBalancer}.DNSName`, `${primaryBalancer}.CanonicalHostedZoneID`],
      SECONDARY: [`${drBalancer}.DNSName`, `${drBalancer}.CanonicalHostedZoneID`],
    });
  });
});

describe('the DR stack', () => {
  const template = Template.fromJSON(drStack);

  it("stores the primary's model in the DR region: the DR site's resources and the primary's", () => {
    const copy = storedModel(DR_STACK_ID, drStack);
    expect(copy.dr).toEqual(storedModel(REFERENCE_STACK_ID, primary).dr);
    expect(copy.region).toBe(PRIMARY_REGION);
    expect(copy.nodes.map((node) => node.instanceId)).toEqual([
      `${REFERENCE_STACK_ID}!NodeA`,
      `${REFERENCE_STACK_ID}!NodeB`,
    ]);
    expect(copy.traffic.listenerArn).toMatch(new RegExp(`^${REFERENCE_STACK_ID}!LoadBalancerHttp`));
  });

  it('runs dr-nodes in the DR subnets, and lets it pass the DR nodes role to EC2 only', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    const drNodes = Object.entries(drStack.Resources).find(
      ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && id.startsWith('DrNodes'),
    )?.[1];
    const vpcConfig = drNodes?.Properties?.VpcConfig as { SubnetIds: unknown[]; SecurityGroupIds: unknown[] };
    expect(vpcConfig.SecurityGroupIds.map((id) => referenceOf(DR_STACK_ID, id))).toEqual([
      `${inSite('AWS::EC2::SecurityGroup', 'ProbeSecurityGroup')}.GroupId`,
    ]);
    expect(vpcConfig.SubnetIds.map((id) => referenceOf(DR_STACK_ID, id))).toEqual(
      storedModel(REFERENCE_STACK_ID, primary).dr.subnetIds,
    );
    const passRole = Object.values(drStack.Resources)
      .filter((resource) => resource.Type === 'AWS::IAM::Policy')
      .flatMap((policy) => {
        const document = policy.Properties?.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] };
        return document.Statement;
      })
      .filter((statement) => statement.Action === 'iam:PassRole');
    expect(passRole).toHaveLength(1);
    expect(passRole[0]).toMatchObject({ Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } });
    expect(referenceOf(DR_STACK_ID, passRole[0]?.Resource)).toBe(`${inSite('AWS::IAM::Role', 'NodeRole')}.Arn`);
  });
});

describe('the DR context', () => {
  const contextOf =
    (values: Record<string, string>) =>
    (key: string): unknown =>
      values[key];

  it('is off without its keys', () => {
    expect(referenceDrFromContext(contextOf({}))).toBeUndefined();
  });

  it('takes the region, the hosted zone and the record name together', () => {
    expect(
      referenceDrFromContext(
        contextOf({
          [DR_REGION_CONTEXT_KEY]: DR_REGION,
          [HOSTED_ZONE_ID_CONTEXT_KEY]: HOSTED_ZONE_ID,
          [RECORD_NAME_CONTEXT_KEY]: RECORD_NAME,
        }),
      ),
    ).toEqual({ region: DR_REGION, hostedZoneId: HOSTED_ZONE_ID, recordName: RECORD_NAME });
  });

  it('names the keys that are missing', () => {
    const regionAlone = () => referenceDrFromContext(contextOf({ [DR_REGION_CONTEXT_KEY]: DR_REGION }));
    expect(regionAlone).toThrow(ClusterModelError);
    expect(regionAlone).toThrow(
      new RegExp(`${HOSTED_ZONE_ID_CONTEXT_KEY} is required.*; ${RECORD_NAME_CONTEXT_KEY} is required`),
    );
  });

  it('refuses a DR region that is the cluster region', () => {
    const sameRegion = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() =>
      buildReferenceApp(sameRegion, DR_REGION, {
        region: DR_REGION,
        hostedZoneId: HOSTED_ZONE_ID,
        recordName: RECORD_NAME,
      }),
    ).toThrow(/dr\.region.*must differ/s);
  });
});

describe('standInsForTokens in the dr block', () => {
  it("makes a token's stand-in ARN in the DR region, as the dr block's checks expect", () => {
    const stack = new Stack(new App(), 'Tokens', { env: { region: PRIMARY_REGION } });
    const { validatable } = standInsForTokens(
      { region: PRIMARY_REGION, dr: { region: DR_REGION, loadBalancerArn: stack.stackId } },
      (model) => model.region,
    );
    expect(validatable.dr.loadBalancerArn.split(':')[3]).toBe(DR_REGION);
  });
});
