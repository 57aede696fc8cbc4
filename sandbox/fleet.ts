import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ROLE_TAG_KEY } from '../functions/domain/tags';
import { httpRequest } from './node/protocol';

/**
 * The sandbox's EC2 data plane: one reference node server process per running instance, on the instance's private
 * IP (the sandbox VPC is 127.0.0.0/16, so private IPs are loopback addresses).
 */

export interface FleetOptions {
  /** moto, directly, in each region the sandbox uses: the fleet reads what RunInstances created. */
  readonly ec2: readonly EC2Client[];
  readonly nodePort: number;
  readonly workDir: string;
  /** The version an instance launched from the AMI runs. */
  readonly imageVersion: string;
  /** How long a node takes from launch (or restart) to listening. */
  readonly bootMs: number;
  readonly syncIntervalMs: number;
  /** The shared database file that migrations change. */
  readonly databaseFile: string;
  /**
   * The scenario's `cluster.database.oldVersionRunsOnNewSchema`, passed to every node: false makes a node older than
   * the schema refuse to serve. Left out, nodes serve on every schema.
   */
  readonly oldVersionRunsOnNewSchema?: boolean;
  /** Called with every running node's instance id and IP whenever a node starts or stops. */
  readonly onChange?: (nodes: readonly (readonly [string, string])[]) => void;
}

export interface SandboxNode {
  readonly instanceId: string;
  readonly ip: string;
  readonly role: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** When the process was started, as Date.now(). */
  readonly launchedAt: number;
  readonly bootMs: number;
}

const STOP_GRACE_MS = 5_000;
/** Generous: on a loaded machine a node serving the load can take seconds to answer its status. */
export const STATUS_TIMEOUT_MS = 10_000;
const SERVER_ENTRY = path.join(__dirname, 'node', 'server.ts');

export class Fleet {
  readonly nodes = new Map<string, SandboxNode>();
  private bootFactor = 1;
  /** Set by stopAll: a launch still being looked up must not start a process after the clean-up. */
  private closed = false;
  private readonly launching = new Set<Promise<void>>();
  private readonly hung = new Set<string>();

  constructor(private readonly options: FleetOptions) {}

  /** Nodes launched from now on take `factor` times as long to boot (the `slow-boot` fault). */
  slowBoot(factor: number): void {
    this.bootFactor = factor;
  }

  /** Starts a node process for each instance moto launched. */
  async launched(instanceIds: readonly string[]): Promise<void> {
    if (this.closed) return;
    const launch = this.startLaunched(instanceIds);
    this.launching.add(launch);
    try {
      await launch;
    } finally {
      this.launching.delete(launch);
    }
  }

  private async startLaunched(instanceIds: readonly string[]): Promise<void> {
    // A filter, not InstanceIds: an id from another region is no error, just no match.
    const described = await Promise.all(
      this.options.ec2.map((ec2) =>
        ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...instanceIds] }] })),
      ),
    );
    const instances = described.flatMap((answer) =>
      (answer.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? []),
    );
    for (const instance of instances) {
      const role = instance.Tags?.find((tag) => tag.Key === ROLE_TAG_KEY)?.Value ?? 'worker';
      if (instance.InstanceId && instance.PrivateIpAddress)
        this.start(instance.InstanceId, instance.PrivateIpAddress, role);
    }
  }

  /** Whether the instance's operating system is up (its agent online): the process runs and has had time to boot. */
  isBooted(instanceId: string): boolean {
    const node = this.nodes.get(instanceId);
    return node !== undefined && node.process.exitCode === null && Date.now() - node.launchedAt >= node.bootMs;
  }

  /** The manager's URL, which workers and surge nodes sync from. */
  managerUrl(): string | undefined {
    return [...this.nodes.values()].find((node) => node.role === 'manager')?.url;
  }

  private start(instanceId: string, ip: string, role: string): void {
    if (this.closed || this.nodes.has(instanceId)) return;
    const { options } = this;
    const dataDir = path.join(options.workDir, 'nodes', instanceId);
    fs.mkdirSync(dataDir, { recursive: true });
    const log = fs.openSync(path.join(dataDir, 'server.log'), 'a');
    const manager = this.managerUrl();
    const bootMs = options.bootMs * this.bootFactor;
    const args = [
      '--import',
      pathToFileURL(require.resolve('tsx')).href,
      SERVER_ENTRY,
      ...['--id', instanceId, '--ip', ip, '--port', String(options.nodePort)],
      ...['--data-dir', dataDir, '--db', options.databaseFile, '--version', options.imageVersion],
      ...['--role', role, '--boot-ms', String(bootMs), '--sync-interval-ms', String(options.syncIntervalMs)],
      ...(options.oldVersionRunsOnNewSchema === undefined
        ? []
        : ['--old-version-runs-on-new-schema', String(options.oldVersionRunsOnNewSchema)]),
      // A DR node stands in for a whole cluster in another region: it syncs from no manager here.
      ...(manager && role !== 'manager' && role !== 'dr' ? ['--manager-url', manager] : []),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', log, log],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    fs.closeSync(log);
    this.nodes.set(instanceId, {
      instanceId,
      ip,
      role,
      url: `http://${ip}:${options.nodePort}`,
      process: child,
      launchedAt: Date.now(),
      bootMs,
    });
    this.changed();
  }

  private changed(): void {
    this.options.onChange?.([...this.nodes.values()].map((node) => [node.instanceId, node.ip] as const));
  }

  /**
   * The `hang-node` fault: the node's process is stopped where it stands. The kernel still accepts connections on its
   * port, and nothing ever answers them: a server hung in a deadlock or a long garbage collection.
   */
  hang(instanceId: string): void {
    const node = this.nodes.get(instanceId);
    if (!node) return;
    this.hung.add(instanceId);
    node.process.kill('SIGSTOP');
  }

  /**
   * The `partition` fault: each of these nodes refuses connections from the others, as when the network between
   * them fails, while the load balancer and everything else still reach each one.
   */
  async partition(instanceIds: readonly string[]): Promise<void> {
    const nodes = instanceIds.flatMap((id) => this.nodes.get(id) ?? []);
    await Promise.all(
      nodes.map((node) =>
        httpRequest(`${node.url}/_control/partition`, {
          method: 'POST',
          body: { refuse: nodes.filter((other) => other !== node).map((other) => other.ip) },
          timeoutMs: STATUS_TIMEOUT_MS,
        }),
      ),
    );
  }

  /** Stops the node processes of instances that are being terminated (or killed by a fault). */
  async stop(instanceIds: readonly string[]): Promise<void> {
    await Promise.all(
      instanceIds.map(async (id) => {
        const node = this.nodes.get(id);
        if (this.nodes.delete(id)) this.changed();
        // A hung process would hold a polite stop until its grace ran out.
        if (node) await stopChild(node.process, this.hung.delete(id) ? 'SIGKILL' : 'SIGTERM');
      }),
    );
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.launching]);
    await this.stop([...this.nodes.keys()]);
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || (child.signalCode !== null && child.signalCode !== 'SIGSTOP')) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
