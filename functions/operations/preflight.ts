import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { alarmStates } from '../aws/cloudwatch';
import { documentVersionExists, imageExists, launchTemplateVersionExists } from '../aws/deployed-resources';
import { describeInstances } from '../aws/ec2';
import { holdsWeights, readListenerWeights } from '../aws/elbv2';
import { agentPingStatus, imageIdFor, loadClusterModel } from '../aws/ssm';
import { type ClusterModel, COMMAND_KINDS, type CommandSpec, commandDocument } from '../domain/cluster-model';
import { nodeAlarmName } from '../domain/recheck';
import { CLUSTER_TAG_KEY, ROLE_TAG_KEY, SLOT_TAG_KEY } from '../domain/tags';
import { describeWeights, isWeighted } from '../domain/weights';

/**
 * Checks a deployed cluster before its first workflow: what each workflow and failover rely on is there and as the
 * model says. Read-only; every check runs, so one answer lists everything to fix.
 */

export interface PreflightCheck {
  /** What was checked, such as "document zerodown-apim-patch-3f0c… version 1". */
  readonly check: string;
  readonly ok: boolean;
  /** Why it failed, or what was found. */
  readonly detail: string;
}

export interface PreflightClients {
  readonly ssm: SSMClient;
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly cloudwatch: CloudWatchClient;
}

export async function runPreflight(clients: PreflightClients, clusterName: string): Promise<PreflightCheck[]> {
  let model: ClusterModel;
  try {
    model = await loadClusterModel(clients.ssm, clusterName);
  } catch (error) {
    return [{ check: `cluster model ${clusterName}`, ok: false, detail: describe(error) }];
  }
  const checks = await Promise.all([
    checkDocuments(clients, model),
    checkNodes(clients, model),
    checkHeartbeats(clients, model),
    checkLaunch(clients, model),
    checkListener(clients, model),
  ]);
  return [{ check: `cluster model ${clusterName}`, ok: true, detail: 'stored and valid' }, ...checks.flat()];
}

/** A check that threw (no permission, say) fails with the error's message instead of stopping the others. */
async function guarded(check: string, run: () => Promise<PreflightCheck[]>): Promise<PreflightCheck[]> {
  try {
    return await run();
  } catch (error) {
    return [{ check, ok: false, detail: describe(error) }];
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function checkDocuments({ ssm }: PreflightClients, model: ClusterModel) {
  return guarded('documents', async () => {
    const commands = COMMAND_KINDS.flatMap((kind) => {
      const spec: CommandSpec | undefined = model.commands[kind];
      return spec ? [{ kind, document: commandDocument(kind, spec) }] : [];
    });
    return Promise.all(
      commands.map(async ({ kind, document }) => {
        const exists = await documentVersionExists(ssm, document.name, document.version);
        return {
          check: `${kind} document ${document.name} version ${document.version}`,
          ok: exists,
          detail: exists ? 'exists' : 'not found: deploy the stack, or create the document and that version',
        };
      }),
    );
  });
}

function checkNodes({ ec2, ssm }: PreflightClients, model: ClusterModel) {
  return guarded('nodes', async () => {
    const found = await describeInstances(
      ec2,
      model.nodes.map((node) => node.instanceId),
    );
    return Promise.all(
      model.nodes.map(async (node) => {
        const check = `node ${node.instanceId} (${node.role}${node.slot ? `, slot ${node.slot}` : ''})`;
        const instance = found.find((candidate) => candidate.instanceId === node.instanceId);
        if (instance?.state !== 'running') {
          return { check, ok: false, detail: instance ? `is ${instance.state}` : 'not found' };
        }
        const expected: Record<string, string | undefined> = {
          [CLUSTER_TAG_KEY]: model.name,
          [ROLE_TAG_KEY]: node.role,
          [SLOT_TAG_KEY]: node.slot,
        };
        const wrong = Object.entries(expected)
          .filter(([key, value]) => value !== undefined && instance.tags[key] !== value)
          .map(([key, value]) => `${key} is ${instance.tags[key] ?? 'missing'}, not ${value}`);
        const ping = await agentPingStatus(ssm, node.instanceId);
        if (ping !== 'Online') wrong.push(`its SSM agent is ${ping}, not Online`);
        return {
          check,
          ok: wrong.length === 0,
          detail: wrong.length === 0 ? 'running, tagged, agent online' : wrong.join('; '),
        };
      }),
    );
  });
}

function checkHeartbeats({ cloudwatch }: PreflightClients, model: ClusterModel) {
  return guarded('heartbeat alarms', async () => {
    const slots = model.nodes.flatMap((node) => (node.slot === undefined ? [] : [node.slot]));
    const names = slots.map((slot) => nodeAlarmName(model.name, slot));
    const states = await alarmStates(cloudwatch, names);
    return slots.map((slot, index) => {
      const name = names[index] ?? '';
      const state = states.find((candidate) => candidate.alarmName === name)?.state;
      return {
        check: `heartbeat of slot ${slot} (${name})`,
        ok: state === 'OK',
        detail:
          state === 'OK'
            ? 'beats arrive'
            : state
              ? `the alarm is ${state}: the node in slot ${slot} sends no heartbeat`
              : 'no such alarm: deploy the stack',
      };
    });
  });
}

function checkLaunch({ ec2, ssm }: PreflightClients, model: ClusterModel) {
  return guarded('launch', async () => {
    const { surge } = model;
    const templateOk = await launchTemplateVersionExists(ec2, surge.launchTemplateId, surge.launchTemplateVersion);
    const checks: PreflightCheck[] = [
      {
        check: `launch template ${surge.launchTemplateId} version ${surge.launchTemplateVersion}`,
        ok: templateOk,
        detail: templateOk ? 'exists' : 'not found',
      },
    ];
    if (surge.imageId || surge.imageParameter) {
      const source = surge.imageParameter ? `image parameter ${surge.imageParameter}` : `image ${surge.imageId}`;
      const imageId = await imageIdFor(ssm, surge).catch(() => undefined);
      const available = imageId ? await imageExists(ec2, imageId) : false;
      checks.push({
        check: source,
        ok: available,
        detail: imageId ? (available ? `${imageId} is available` : `${imageId} is not an available AMI`) : 'not found',
      });
    }
    return checks;
  });
}

function checkListener({ elbv2 }: PreflightClients, model: ClusterModel) {
  return guarded('listener', async () => {
    if (!isWeighted(model)) return [];
    const listeners = await readListenerWeights(elbv2, model);
    const [first] = listeners;
    return listeners.map(({ listener, weights }) => {
      const serving = weights.some((weight) => weight.weight > 0);
      // Every listener must carry the same weights: a port that disagrees sends traffic a shift meant to move.
      const agrees = first === undefined || holdsWeights(first, weights);
      return {
        check: `listener ${listener.ruleArn ?? listener.listenerArn}`,
        ok: serving && agrees,
        detail: !serving
          ? "no slot's target group carries weight in its forward action"
          : agrees
            ? `forwards by weight: ${describeWeights(weights)}`
            : `forwards by weight ${describeWeights(weights)}, unlike the cluster's listener (${describeWeights(first.weights)}): a shift stopped halfway, and the next shift or recover writes both`,
      };
    });
  });
}
