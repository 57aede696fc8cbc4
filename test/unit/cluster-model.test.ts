import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import {
  type ClusterModelInput,
  clusterParameterName,
  parseClusterModel,
  targetGroupOf,
  targetGroupsOf,
} from '../../functions/domain/cluster-model';
import { commandSourceIssues } from '../../functions/domain/command-sources';
import { ClusterModelError } from '../../functions/domain/errors';
import { wso2ApimCommands, wso2ApimHealthChecks, wso2ApimTraffic } from '../../kits/wso2-apim/wso2-apim-kit';

const ACCOUNT = '123456789012';
const elb = (resource: string) => `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:${resource}`;

function validModel(): ClusterModelInput {
  return {
    name: 'apim-prod',
    region: 'eu-west-1',
    topology: 'active-passive',
    nodes: [
      { instanceId: 'i-0123456789abcdef0', role: 'manager', slot: 'a' },
      { instanceId: 'i-0123456789abcdef1', role: 'worker', slot: 'b' },
    ],
    traffic: {
      strategy: 'weighted-target-groups',
      listenerArn: elb('listener/app/apim/50dc6c495c0c9188/f2f7dc8efc522ab2'),
      slots: [
        { name: 'a', targetGroupArn: elb('targetgroup/apim-a/73e2d6bc24d8a067') },
        { name: 'b', targetGroupArn: elb('targetgroup/apim-b/73e2d6bc24d8a068') },
        { name: 'surge', targetGroupArn: elb('targetgroup/apim-surge/73e2d6bc24d8a069') },
      ],
      surgeSlot: 'surge',
    },
    network: {
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0'],
      securityGroupIds: ['sg-0123456789abcdef0'],
    },
    surge: { launchTemplateId: 'lt-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0'] },
    healthChecks: { http: [{ name: 'health', path: '/health', port: 9443 }] },
  };
}

/** Parses and returns the error's issues, failing the test if the model was accepted. */
function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseClusterModel(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ClusterModelError);
    return [...(error as ClusterModelError).issues];
  }
  throw new Error('the model was accepted');
}

function edit(change: (model: Record<string, unknown> & ClusterModelInput) => void): unknown {
  const model = structuredClone(validModel()) as Record<string, unknown> & ClusterModelInput;
  change(model);
  return model;
}

describe('parseClusterModel', () => {
  it('accepts a valid model and fills in the runbook defaults', () => {
    const model = parseClusterModel(validModel());

    expect(model.capacity).toEqual({ minHealthyPercent: 75, drainSeconds: 30 });
    expect(model.surge.launchTemplateVersion).toBe('$Latest');
    expect(model.healthChecks.targetHealth).toBe(true);
    expect(model.healthChecks.http[0]).toMatchObject({ protocol: 'http', expectedStatus: 200, timeoutMs: 2000 });
    expect(model.commands).toEqual({});
  });

  it.each(['examples/clusters/demo.json', 'local/clusters/local-cluster.json', 'kits/wso2-apim/example-cluster.json'])(
    'accepts %s',
    (file) => {
      const document = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, file), 'utf8'));
      expect(parseClusterModel(document).name).toBe(document.name);
    },
  );

  it("keeps the WSO2 kit's example model to what the kit's functions give", () => {
    const document = JSON.parse(
      fs.readFileSync(path.join(PROJECT_ROOT, 'kits/wso2-apim/example-cluster.json'), 'utf8'),
    ) as ClusterModelInput;
    expect(document.healthChecks).toEqual(wso2ApimHealthChecks());
    expect(document.commands).toEqual(wso2ApimCommands());
    expect(document.traffic).toMatchObject({ additionalListeners: [{ name: 'management' }] });
  });

  it('names the field when the listener ARN is missing', () => {
    const issues = issuesOf(
      edit((model) => {
        delete (model.traffic as Partial<typeof model.traffic>).listenerArn;
      }),
    );
    expect(issues).toEqual([{ path: 'traffic.listenerArn', message: 'is required' }]);
  });

  it('names the field and the allowed values when the topology is unknown', () => {
    const issues = issuesOf(edit((model) => Object.assign(model, { topology: 'star' })));
    expect(issues).toEqual([
      { path: 'topology', message: 'must be one of "active-active", "active-passive" (got "star")' },
    ]);
  });

  it('names a database by engine and identifier, migrating last unless the old version runs on the new schema', () => {
    const model = parseClusterModel(
      edit((input) => Object.assign(input, { database: { engine: 'aurora-cluster', identifier: 'apim-db' } })),
    );
    expect(model.database).toEqual({
      engine: 'aurora-cluster',
      identifier: 'apim-db',
      oldVersionRunsOnNewSchema: false,
      snapshotTimeoutSeconds: 3600,
    });
    const issues = issuesOf(
      edit((input) => Object.assign(input, { database: { engine: 'rds-instance', identifier: 'apim--db-' } })),
    );
    expect(issues.map((issue) => issue.path)).toEqual(['database.identifier', 'database.identifier']);
  });

  it('puts every problem and the cluster name in the error message', () => {
    const input = edit((model) => {
      Object.assign(model, { topology: 'star' });
      delete (model.traffic as Partial<typeof model.traffic>).listenerArn;
    });
    expect(() => parseClusterModel(input)).toThrow(
      'Invalid cluster model "apim-prod": topology must be one of "active-active", "active-passive" (got "star"); ' +
        'traffic.listenerArn is required',
    );
  });

  it.each<[string, (model: Record<string, unknown> & ClusterModelInput) => void, string, RegExp]>([
    [
      'a malformed listener ARN',
      (m) => Object.assign(m.traffic, { listenerArn: 'arn:aws:elasticloadbalancing:eu-west-1:1:listener/x' }),
      'traffic.listenerArn',
      /Application Load Balancer listener ARN/,
    ],
    [
      'an unknown traffic strategy',
      (m) => Object.assign(m.traffic, { strategy: 'dns' }),
      'traffic.strategy',
      /must be one of "weighted-target-groups", "single-target-group" \(got "dns"\)/,
    ],
    ['an unknown field', (m) => Object.assign(m, { nodez: [] }), 'nodez', /is not a known field/],
    [
      'a bad instance id',
      (m) => Object.assign(m.nodes[0] ?? {}, { instanceId: 'web-1' }),
      'nodes[0].instanceId',
      /EC2 instance id/,
    ],
    ['a bad role', (m) => Object.assign(m.nodes[1] ?? {}, { role: 'leader' }), 'nodes[1].role', /"manager", "worker"/],
    [
      'a capacity over 100 percent',
      (m) => Object.assign(m, { capacity: { minHealthyPercent: 150 } }),
      'capacity.minHealthyPercent',
      /at most 100/,
    ],
    ['no health check', (m) => Object.assign(m.healthChecks, { http: [] }), 'healthChecks.http', /at least 1 items/],
    [
      'a health check path without a slash',
      (m) => Object.assign(m.healthChecks.http[0] ?? {}, { path: 'health' }),
      'healthChecks.http[0].path',
      /URL path/,
    ],
    [
      'a command document name with shell characters',
      (m) => Object.assign(m, { commands: { patch: { documentName: 'patch; rm -rf /', documentVersion: '1' } } }),
      'commands.patch.documentName',
      /SSM document name/,
    ],
    [
      'a document that runs any shell it is passed',
      (m) =>
        Object.assign(m, {
          commands: { ...m.commands, patch: { documentName: 'AWS-RunShellScript', documentVersion: '1' } },
        }),
      'commands.patch.documentName',
      /runs any shell its caller passes/,
    ],
    [
      'such a document named by its ARN',
      (m) =>
        Object.assign(m, {
          commands: {
            ...m.commands,
            upgrade: {
              documentName: 'arn:aws:ssm:eu-west-1:123456789012:document/AWS-RunPowerShellScript',
              documentVersion: '1',
            },
          },
        }),
      'commands.upgrade.documentName',
      /runs any shell its caller passes/,
    ],
    [
      'a document version that is not pinned',
      (m) =>
        Object.assign(m, {
          commands: { ...m.commands, patch: { documentName: 'zerodown-test-patch', documentVersion: '$LATEST' } },
        }),
      'commands.patch.documentVersion',
      /a document version number such as 1 \(\$LATEST and \$DEFAULT are not pinned\)/,
    ],
    [
      'an unknown command kind',
      (m) => Object.assign(m, { commands: { reboot: { documentName: 'AWS-RunShellScript' } } }),
      'commands.reboot',
      /is not a known field/,
    ],
  ])('rejects %s', (_case, change, fieldPath, message) => {
    const issues = issuesOf(edit(change));
    expect(issues.map((issue) => issue.path)).toEqual([fieldPath]);
    expect(issues[0]?.message).toMatch(message);
  });

  describe('cross-field rules', () => {
    it.each<[string, (model: Record<string, unknown> & ClusterModelInput) => void, string, RegExp]>([
      [
        'two managers',
        (m) => Object.assign(m.nodes[1] ?? {}, { role: 'manager' }),
        'nodes',
        /exactly one node with role "manager" \(found 2\)/,
      ],
      [
        'a repeated instance',
        (m) => Object.assign(m.nodes[1] ?? {}, { instanceId: m.nodes[0]?.instanceId }),
        'nodes[1].instanceId',
        /repeats/,
      ],
      [
        'a node in an unknown slot',
        (m) => Object.assign(m.nodes[1] ?? {}, { slot: 'c' }),
        'nodes[1].slot',
        /names no slot/,
      ],
      [
        'a node in the surge slot',
        (m) => Object.assign(m.nodes[1] ?? {}, { slot: 'surge' }),
        'nodes[1].slot',
        /is the surge slot/,
      ],
      [
        'two nodes in one slot',
        (m) => Object.assign(m.nodes[1] ?? {}, { slot: 'a' }),
        'nodes[1].slot',
        /already taken/,
      ],
      ['a missing slot', (m) => delete m.nodes[1]?.slot, 'nodes[1].slot', /is required with the weighted/],
      [
        'an unknown surge slot',
        (m) => Object.assign(m.traffic, { surgeSlot: 'x' }),
        'traffic.surgeSlot',
        /names no slot/,
      ],
      [
        'a listener in another region',
        (m) =>
          Object.assign(m.traffic, {
            listenerArn: `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener/app/apim/50dc6c495c0c9188/f2f7dc8efc522ab2`,
          }),
        'traffic.listenerArn',
        /is in us-east-1, not eu-west-1/,
      ],
      [
        'both an AMI id and an AMI parameter',
        (m) => Object.assign(m.surge, { imageId: 'ami-0123456789abcdef0', imageParameter: '/apim/ami' }),
        'surge.imageParameter',
        /cannot be combined/,
      ],
      [
        'three nodes in an active-passive cluster',
        (m) => m.nodes.push({ instanceId: 'i-0123456789abcdef2', role: 'worker', slot: 'c' }),
        'nodes',
        /exactly 2 nodes for an active-passive cluster/,
      ],
    ])('rejects %s', (_case, change, fieldPath, message) => {
      const issues = issuesOf(edit(change));
      expect(issues).toContainEqual({ path: fieldPath, message: expect.stringMatching(message) });
    });

    describe('additional listeners', () => {
      const management = () => ({
        name: 'management',
        listenerArn: elb('listener/app/apim/50dc6c495c0c9188/0000000000009443'),
        targetGroups: {
          a: elb('targetgroup/apim-mgmt-a/83e2d6bc24d8a067'),
          b: elb('targetgroup/apim-mgmt-b/83e2d6bc24d8a068'),
          surge: elb('targetgroup/apim-mgmt-surge/83e2d6bc24d8a069'),
        },
      });
      const withManagement = (change: (listener: ReturnType<typeof management>) => void = () => {}) =>
        edit((model) => {
          const listener = management();
          change(listener);
          Object.assign(model.traffic, { additionalListeners: [listener] });
        });

      it("accepts a management listener beside the gateway's, and gives each node both target groups", () => {
        const model = parseClusterModel(withManagement());
        const node = model.nodes[0] ?? { slot: 'a' };
        expect(targetGroupsOf(model, node)).toEqual([
          elb('targetgroup/apim-a/73e2d6bc24d8a067'),
          elb('targetgroup/apim-mgmt-a/83e2d6bc24d8a067'),
        ]);
        expect(targetGroupOf(model, node)).toBe(elb('targetgroup/apim-a/73e2d6bc24d8a067'));
      });

      it("expresses the WSO2 kit's gateway and management listeners", () => {
        const gateway = validModel().traffic;
        if (gateway.strategy !== 'weighted-target-groups') throw new Error('weighted model expected');
        const model = parseClusterModel({
          ...validModel(),
          traffic: wso2ApimTraffic({
            gateway: {
              listenerArn: gateway.listenerArn,
              targetGroups: Object.fromEntries(gateway.slots.map((slot) => [slot.name, slot.targetGroupArn])),
            },
            management: { listenerArn: management().listenerArn, targetGroups: management().targetGroups },
          }),
        });
        expect(model.traffic).toEqual({ ...gateway, additionalListeners: [management()] });
      });

      it.each<[string, (listener: ReturnType<typeof management>) => void, string, RegExp]>([
        [
          'a slot without a target group',
          (listener) => delete (listener.targetGroups as Record<string, string>).b,
          'traffic.additionalListeners[0].targetGroups',
          /has no target group for slot b/,
        ],
        [
          'a target group for a slot the cluster lacks',
          (listener) => Object.assign(listener.targetGroups, { c: elb('targetgroup/apim-mgmt-c/83e2d6bc24d8a06a') }),
          'traffic.additionalListeners[0].targetGroups.c',
          /names no slot/,
        ],
        [
          "the cluster listener's own target group",
          (listener) => Object.assign(listener.targetGroups, { b: elb('targetgroup/apim-b/73e2d6bc24d8a068') }),
          'traffic.additionalListeners[0].targetGroups.b',
          /is already traffic\.slots\.1\.targetGroupArn/,
        ],
        [
          "the cluster's own listener",
          (listener) =>
            Object.assign(listener, { listenerArn: elb('listener/app/apim/50dc6c495c0c9188/f2f7dc8efc522ab2') }),
          'traffic.additionalListeners[0].listenerArn',
          /is already traffic\.listenerArn/,
        ],
        [
          'a listener in another region',
          (listener) =>
            Object.assign(listener, {
              listenerArn: `arn:aws:elasticloadbalancing:us-east-1:${ACCOUNT}:listener/app/apim/50dc6c495c0c9188/0000000000009443`,
            }),
          'traffic.additionalListeners[0].listenerArn',
          /is in us-east-1, not eu-west-1/,
        ],
      ])('rejects %s', (_case, change, fieldPath, message) => {
        expect(issuesOf(withManagement(change))).toContainEqual({
          path: fieldPath,
          message: expect.stringMatching(message),
        });
      });
    });

    it('rejects a DR site in the cluster region', () => {
      const issues = issuesOf(
        edit((model) =>
          Object.assign(model, {
            dr: {
              region: 'eu-west-1',
              launchTemplateId: 'lt-0123456789abcdef0',
              subnetIds: ['subnet-0123456789abcdef0'],
              securityGroupIds: ['sg-0123456789abcdef0'],
              loadBalancerArn: elb('loadbalancer/app/apim-dr/50dc6c495c0c9188'),
              targetGroupArn: elb('targetgroup/apim-dr/73e2d6bc24d8a067'),
              hostedZoneId: 'Z0123456789ABCDEFGHIJ',
              recordName: 'api.example.com',
            },
          }),
        ),
      );
      expect(issues).toContainEqual({ path: 'dr.region', message: 'must differ from the cluster region eu-west-1' });
    });

    it('accepts the single-target-group strategy without slots', () => {
      const input = edit((model) => {
        model.traffic = {
          strategy: 'single-target-group',
          listenerArn: elb('listener/app/apim/50dc6c495c0c9188/f2f7dc8efc522ab2'),
          targetGroupArn: elb('targetgroup/apim/73e2d6bc24d8a067'),
        };
        for (const node of model.nodes) delete node.slot;
      });
      const model = parseClusterModel(input);
      expect(targetGroupOf(model, model.nodes[0] ?? {})).toBe(elb('targetgroup/apim/73e2d6bc24d8a067'));
    });
  });

  it('maps a node to the target group of its slot', () => {
    const model = parseClusterModel(validModel());
    expect(targetGroupOf(model, { slot: 'b' })).toBe(elb('targetgroup/apim-b/73e2d6bc24d8a068'));
  });

  it('stores each cluster under its own parameter name', () => {
    expect(clusterParameterName('apim-prod')).toBe('/zerodown/clusters/apim-prod');
  });
});

describe('commandSourceIssues', () => {
  it.each<[string, (model: Record<string, unknown> & ClusterModelInput) => void, string, RegExp]>([
    [
      'a document with no version',
      (m) => Object.assign(m, { commands: { ...m.commands, patch: { documentName: 'zerodown-test-patch' } } }),
      'commands.patch.documentVersion',
      /is required: a command runs a pinned document version/,
    ],
    [
      'a command with neither a document nor the kit',
      (m) => Object.assign(m, { commands: { ...m.commands, patch: { timeoutSeconds: 900 } } }),
      'commands.patch',
      /must name a document \(documentName and documentVersion\) or use the node kit/,
    ],
    [
      'a kit command that also names a document',
      (m) =>
        Object.assign(m, {
          commands: { ...m.commands, patch: { kit: 'node', documentName: 'zerodown-test-patch' } },
        }),
      'commands.patch.documentName',
      /is set by the node kit; remove it or the kit/,
    ],
    [
      'the kit for a command it has no document for',
      (m) => Object.assign(m, { commands: { ...m.commands, expose: { kit: 'node' } } }),
      'commands.expose.kit',
      /has no expose document in the node kit/,
    ],
  ])('names %s', (_case, change, fieldPath, message) => {
    const issues = commandSourceIssues(parseClusterModel(edit(change)));
    expect(issues.map((issue) => issue.path)).toEqual([fieldPath]);
    expect(issues[0]?.message).toMatch(message);
  });

  it('accepts the node kit and pinned documents of your own', () => {
    const model = parseClusterModel(
      edit((m) =>
        Object.assign(m, {
          commands: {
            patch: { kit: 'node' },
            expose: { documentName: 'apim-expose', documentVersion: '3', inputParameter: 'Service' },
          },
        }),
      ),
    );
    expect(commandSourceIssues(model)).toEqual([]);
  });
});
