import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { CreateDocumentCommand } from '@aws-sdk/client-ssm';
import { cloudwatchClient } from '../../../functions/aws/clients/cloudwatch';
import { ec2Client } from '../../../functions/aws/clients/ec2';
import { elbv2Client } from '../../../functions/aws/clients/elbv2';
import { ssmClient } from '../../../functions/aws/clients/ssm';
import { saveClusterModel } from '../../../functions/aws/ssm';
import { type ClusterModel, commandDocument } from '../../../functions/domain/cluster-model';
import { nodeAlarmName } from '../../../functions/domain/recheck';
import { type PreflightCheck, runPreflight } from '../../../functions/operations/preflight';
import { kitDocumentContent, withKitDocuments } from '../../../kits/node/documents';
import { ssmAgentsOnline } from '../../../local/faults';
import { createMotoCluster } from '../../../local/moto-cluster';
import { useFaults } from '../../harness/cleanup';
import { putHeartbeatAlarm } from '../../harness/heartbeat-alarms';
import { useMoto } from '../../harness/moto';

const CLI = path.join(__dirname, '..', '..', '..', 'cli', 'zerodown.cjs');
const clients = { ssm: ssmClient, ec2: ec2Client, elbv2: elbv2Client, cloudwatch: cloudwatchClient };

/** A cluster deployed as the stack would: the node kit's documents, and its heartbeat alarms in the given state. */
async function deployedCluster(alarmState: 'OK' | 'ALARM' = 'OK'): Promise<ClusterModel> {
  const cluster = await createMotoCluster({
    customize: (model) =>
      withKitDocuments({
        ...model,
        commands: { patch: { kit: 'node', parameters: {}, timeoutSeconds: 600 } },
      } as ClusterModel),
  });
  const patch = cluster.model.commands.patch;
  if (patch) {
    await ssmClient.send(
      new CreateDocumentCommand({
        Name: commandDocument('patch', patch).name,
        DocumentType: 'Command',
        DocumentFormat: 'JSON',
        Content: JSON.stringify(kitDocumentContent('patch')),
      }),
    );
  }
  for (const node of cluster.model.nodes) {
    const AlarmName = nodeAlarmName(cluster.model.name, node.slot ?? '');
    await putHeartbeatAlarm(cloudwatchClient, AlarmName, alarmState);
  }
  return cluster.model;
}

const failures = (checks: PreflightCheck[]) =>
  checks.filter((check) => !check.ok).map((check) => `${check.check}: ${check.detail}`);

describe('runPreflight', () => {
  useMoto();
  useFaults();

  it('passes a cluster whose documents, nodes, heartbeats, launch template, AMI and listener are in place', async () => {
    const model = await deployedCluster();
    ssmAgentsOnline();
    const checks = await runPreflight(clients, model.name);
    expect(failures(checks)).toEqual([]);
    expect(checks.map((check) => check.check)).toEqual([
      'cluster model test-cluster',
      expect.stringMatching(/^patch document zerodown-test-cluster-patch-[0-9a-f]{12} version 1$/),
      // Slot a serves as the worker; the passive node in slot b is the runbook's manager.
      expect.stringMatching(/^node i-\w+ \(worker, slot a\)$/),
      expect.stringMatching(/^node i-\w+ \(manager, slot b\)$/),
      'heartbeat of slot a (zerodown-test-cluster-node-a-lost)',
      'heartbeat of slot b (zerodown-test-cluster-node-b-lost)',
      expect.stringMatching(/^launch template lt-\w+ version \$Latest$/),
      expect.stringMatching(/^image ami-\w+$/),
      expect.stringMatching(/^listener arn:aws:elasticloadbalancing:/),
    ]);
    expect(checks.at(-1)?.detail).toBe('forwards by weight: a=100, b=0, surge=0');
  });

  it('names everything to fix at once: a missing document, a wrong tag, an agent offline, a silent node', async () => {
    const model = await deployedCluster('ALARM');
    const manager = model.nodes.find((node) => node.role === 'manager');
    const worker = model.nodes.find((node) => node.role === 'worker');
    ssmAgentsOnline((instanceId) => instanceId !== worker?.instanceId);
    await ec2Client.send(
      new DeleteTagsCommand({ Resources: [manager?.instanceId ?? ''], Tags: [{ Key: 'zerodown:slot' }] }),
    );
    await ec2Client.send(
      new CreateTagsCommand({
        Resources: [worker?.instanceId ?? ''],
        Tags: [{ Key: 'zerodown:role', Value: 'manager' }],
      }),
    );
    const withUnknownDocument = withKitDocuments({
      ...model,
      commands: { ...model.commands, upgrade: { kit: 'node', parameters: {}, timeoutSeconds: 600 } },
    });
    await saveClusterModel(ssmClient, withUnknownDocument);

    expect(failures(await runPreflight(clients, model.name))).toEqual([
      expect.stringMatching(
        /^upgrade document zerodown-test-cluster-upgrade-\w+ version 1: not found: deploy the stack/,
      ),
      // In the model's order: the worker in slot a, then the manager in slot b.
      expect.stringMatching(
        /\(worker, slot a\): zerodown:role is manager, not worker; its SSM agent is ConnectionLost/,
      ),
      expect.stringMatching(/\(manager, slot b\): zerodown:slot is missing, not b$/),
      'heartbeat of slot a (zerodown-test-cluster-node-a-lost): the alarm is ALARM: the node in slot a sends no heartbeat',
      'heartbeat of slot b (zerodown-test-cluster-node-b-lost): the alarm is ALARM: the node in slot b sends no heartbeat',
    ]);
  });

  it('answers with one failed check for a cluster that is not deployed', async () => {
    expect(await runPreflight(clients, 'nowhere')).toEqual([
      { check: 'cluster model nowhere', ok: false, detail: expect.stringMatching(/^ClusterNotFoundError: /) },
    ]);
  });

  it("is the CLI's `zerodown preflight`: a line per check, and an exit code for scripts", async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, ...args], { env: process.env }, (error, stdout, stderr) =>
          resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
        );
      });
    const missing = await cli(['preflight', 'nowhere']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^FAIL cluster model nowhere: ClusterNotFoundError: .*\n1 of 1 checks failed\n$/);
    const json = await cli(['preflight', 'nowhere', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ check: 'cluster model nowhere', ok: false })]);
    expect(await cli(['preflight'])).toMatchObject({
      code: 2,
      stderr: "error: missing required argument 'cluster'\n",
    });
  });
});
