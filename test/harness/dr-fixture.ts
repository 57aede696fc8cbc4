import { drStackIdFor } from '../../cdk/app';
import { dynamodbClient } from '../../functions/aws/clients/dynamodb';
import { clientsIn } from '../../functions/aws/clients/regional';
import { route53Client } from '../../functions/aws/clients/route53';
import { dynamoDbLockStore } from '../../functions/aws/dynamodb';
import { readDnsState } from '../../functions/aws/route53';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { findDrNodes } from '../../functions/operations/dr-nodes';
import { serveNode } from '../../local/fake-nodes';
import { type LocalExecutionOptions, runLocally } from '../../local/local-sfn';
import { createMotoCluster } from '../../local/moto-cluster';
import { createMotoDrSite, DR_REGION } from '../../local/moto-dr';
import { simulateNodes } from '../../local/simulated-nodes';
import { provisionStackResources } from '../../local/stack-resources';
import { resourcesOfType } from '../../local/template';
import { synthesizedApp } from './synth';

/**
 * Runs the test cluster's region-failover state machine locally against a moto primary region and DR site. Use inside
 * a describe block that calls useMoto(), useFaults() and useFakeNodes().
 */
export function drFixture() {
  const drClients = () => clientsIn(DR_REGION);

  async function prepare(routing: 'failover' | 'weighted' = 'failover') {
    const cluster = await createMotoCluster({ topology: 'active-passive' });
    await simulateNodes(cluster, { version: '1.0.0' });
    const site = await createMotoDrSite(cluster, { routing });
    await provisionStackResources(drStack());
    return { cluster, site };
  }

  /** DR instances answer HTTP once launched: EC2 in moto starts nothing, so the test serves them. */
  function serveDrNodes(model: ClusterModel, nodePort: number, status = 200): LocalExecutionOptions['onEvent'] {
    const served = new Set<string>();
    return (event) => {
      if (event.type !== 'StateExited' || event.state.name !== 'Launch the DR nodes') return;
      void findDrNodes(drClients().ec2, model).then(async (nodes) => {
        for (const node of nodes.filter((candidate) => !served.has(candidate.instanceId))) {
          served.add(node.instanceId);
          // A node an earlier execution launched already answers.
          const fake = await serveNode(node.instanceId, node.privateIp ?? '', nodePort).catch(() => undefined);
          if (fake) fake.healthStatus = status;
        }
      });
    };
  }

  const drStack = () => synthesizedApp().stack(drStackIdFor('test-cluster'));

  function run(input: Record<string, unknown>, onEvent?: LocalExecutionOptions['onEvent']) {
    return runLocally({
      stack: drStack(),
      input: { cluster: 'test-cluster', ...input },
      timeScale: 0.001,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  const dnsServing = async (model: ClusterModel) =>
    (await readDnsState({ route53: route53Client, drElbv2: drClients().elbv2 }, model)).serving;

  async function liveDrNodes(model: ClusterModel) {
    return findDrNodes(drClients().ec2, model);
  }

  const drLockStore = () => {
    const [table] = resourcesOfType(drStack().template, 'AWS::DynamoDB::GlobalTable');
    return dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: table?.[0] ?? '' });
  };

  return { drClients, prepare, serveDrNodes, drStack, run, dnsServing, liveDrNodes, drLockStore };
}
