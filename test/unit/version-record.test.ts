import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import type { ClusterSnapshot, NodeSnapshot } from '../../functions/domain/snapshot';
import { whyNoCurrentVersion } from '../../functions/domain/version-record';

const model = parseClusterModel(
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'local/clusters/local-cluster.json'), 'utf8')),
);

function snapshot(versions: (string | null)[]): ClusterSnapshot {
  const nodes = model.nodes.map(
    (node, index): NodeSnapshot => ({
      instanceId: node.instanceId,
      role: node.role,
      slot: node.slot ?? '',
      targetGroupArn: 'arn',
      state: 'running',
      targetHealth: 'healthy',
      serving: index === 0,
      version: versions[index] ?? null,
    }),
  );
  return {
    cluster: model.name,
    takenAt: '2026-11-25T10:00:00.000Z',
    strategy: 'weighted-target-groups',
    weights: [],
    nodes,
    servingHealthyNodes: 1,
    surgeNodes: [],
  };
}

describe('whyNoCurrentVersion', () => {
  const [a, b] = model.nodes;

  it('names the nodes that report no version at the version endpoint', () => {
    expect(whyNoCurrentVersion(model, snapshot(['4.2.0', null]))).toBe(
      `node(s) ${b?.instanceId} report no version at the version endpoint`,
    );
  });

  it('says when the model names no version endpoint at all', () => {
    const { version: _endpoint, ...healthChecks } = model.healthChecks;
    expect(whyNoCurrentVersion({ ...model, healthChecks }, snapshot([null, null]))).toBe(
      "the cluster model names no version endpoint (healthChecks.version), the only place nodes' versions are read",
    );
  });

  it('names what each node runs when they disagree', () => {
    expect(whyNoCurrentVersion(model, snapshot(['4.2.0', '4.3.0']))).toBe(
      `the nodes report different versions (${a?.instanceId} runs 4.2.0, ${b?.instanceId} runs 4.3.0), as after an ` +
        'interrupted rollout',
    );
  });
});
