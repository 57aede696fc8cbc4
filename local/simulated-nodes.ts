import {
  DescribeImagesCommand,
  type RunInstancesCommandOutput,
  type TerminateInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import type {
  GetCommandInvocationCommandInput,
  GetCommandInvocationCommandOutput,
  SendCommandCommandInput,
  SendCommandCommandOutput,
} from '@aws-sdk/client-ssm';
import { ec2Client } from '../functions/aws/clients/ec2';
import { ssmClient } from '../functions/aws/clients/ssm';
import { VERSION_TAG_KEY } from '../functions/domain/tags';
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
  /**
   * What every node launched from now on answers at its health endpoint. A launched node starts serving only once its
   * image has been looked up, so a test that wants it unhealthy from its first answer sets this before the launch.
   */
  launchedHealthStatus: number;
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
  const simulated: SimulatedNodes = { nodes, commands, launchedHealthStatus: 200 };
  for (const node of cluster.model.nodes) {
    const ip = cluster.privateIps[node.instanceId] ?? '';
    nodes.set(node.instanceId, await serveNode(node.instanceId, ip, cluster.nodePort, options.version));
  }
  rewriteOutput<RunInstancesCommandOutput>(ec2Client, 'RunInstancesCommand', (output) => {
    for (const instance of output.Instances ?? []) {
      const { InstanceId: id, PrivateIpAddress: ip, ImageId: imageId } = instance;
      if (id && ip) {
        // A node booted from an image zerodown baked runs the version the image is tagged with, as on EC2.
        void versionOfImage(imageId)
          .then((version) => serveNode(id, ip, cluster.nodePort, version ?? options.version))
          .then((node) => {
            node.healthStatus = simulated.launchedHealthStatus;
            nodes.set(id, node);
          });
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
  return simulated;
}

/** The `zerodown:version` tag of an image, when it has one. */
async function versionOfImage(imageId: string | undefined): Promise<string | undefined> {
  if (!imageId) return undefined;
  try {
    const { Images = [] } = await ec2Client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return Images[0]?.Tags?.find((tag) => tag.Key === VERSION_TAG_KEY)?.Value;
  } catch {
    // An image moto does not list (such as one of its default AMIs that it did not load) carries no version.
    return undefined;
  }
}
