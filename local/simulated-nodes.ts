import type { RunInstancesCommandOutput, TerminateInstancesCommandInput } from '@aws-sdk/client-ec2';
import type {
  GetCommandInvocationCommandInput,
  GetCommandInvocationCommandOutput,
  SendCommandCommandInput,
  SendCommandCommandOutput,
} from '@aws-sdk/client-ssm';
import { ec2Client } from '../functions/aws/clients/ec2';
import { ssmClient } from '../functions/aws/clients/ssm';
import { type FakeNode, serveNode } from './fake-nodes';
import { rewriteOutput, ssmAgentsOnline } from './faults';
import type { MotoCluster } from './moto-cluster';

export interface SentCommand {
  readonly commandId: string;
  readonly documentName: string;
  readonly instanceIds: readonly string[];
  readonly parameters: Readonly<Record<string, readonly string[]>>;
}

export interface SimulatedNodes {
  /** Every node that answers HTTP, permanent and surge, by instance id. */
  readonly nodes: Map<string, FakeNode>;
  /** Every SendCommand, in order, as requested. */
  readonly commands: SentCommand[];
}

/**
 * What moto has no data plane for, simulated in the test process: nodes answer HTTP on their private IPs (surge
 * nodes from the moment RunInstances returns), their SSM agents are online, commands take effect through `onCommand`,
 * and terminated nodes stop answering. The faults are removed after each test by `useFaults()`, the servers by
 * `useFakeNodes()`.
 */
export async function simulateNodes(
  cluster: MotoCluster,
  options: {
    version: string;
    /** Applies a command's effect to a node; what it returns becomes the command's output on that node. */
    onCommand?: (command: SentCommand, node: FakeNode) => string | undefined;
  },
): Promise<SimulatedNodes> {
  const nodes = new Map<string, FakeNode>();
  const commands: SentCommand[] = [];
  for (const node of cluster.model.nodes) {
    const ip = cluster.privateIps[node.instanceId] ?? '';
    nodes.set(node.instanceId, await serveNode(node.instanceId, ip, cluster.nodePort, options.version));
  }
  rewriteOutput<RunInstancesCommandOutput>(ec2Client, 'RunInstancesCommand', (output) => {
    for (const instance of output.Instances ?? []) {
      const { InstanceId: id, PrivateIpAddress: ip } = instance;
      if (id && ip) {
        void serveNode(id, ip, cluster.nodePort, options.version).then((node) => nodes.set(id, node));
      }
    }
    return output;
  });
  rewriteOutput<object, TerminateInstancesCommandInput>(ec2Client, 'TerminateInstancesCommand', (output, input) => {
    for (const id of input.InstanceIds ?? []) {
      void nodes.get(id)?.close();
      nodes.delete(id);
    }
    return output;
  });
  const outputs = new Map<string, string>();
  rewriteOutput<SendCommandCommandOutput, SendCommandCommandInput>(ssmClient, 'SendCommandCommand', (output, input) => {
    const command: SentCommand = {
      commandId: output.Command?.CommandId ?? '',
      documentName: input.DocumentName ?? '',
      instanceIds: input.InstanceIds ?? [],
      parameters: input.Parameters ?? {},
    };
    commands.push(command);
    for (const id of command.instanceIds) {
      const node = nodes.get(id);
      const text = node ? options.onCommand?.(command, node) : undefined;
      if (typeof text === 'string') outputs.set(`${command.commandId}/${id}`, text);
    }
    return output;
  });
  rewriteOutput<GetCommandInvocationCommandOutput, GetCommandInvocationCommandInput>(
    ssmClient,
    'GetCommandInvocationCommand',
    (output, input) => {
      const text = outputs.get(`${input.CommandId}/${input.InstanceId}`);
      return text === undefined ? output : { ...output, StandardOutputContent: text };
    },
  );
  ssmAgentsOnline((id) => nodes.has(id));
  return { nodes, commands };
}
