import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { RDSClient } from '@aws-sdk/client-rds';
import { SSMClient } from '@aws-sdk/client-ssm';
import { PROJECT_ROOT } from '../cdk/paths';
import { freeNodePort, startMotoServer, stopProcess } from '../local/moto-server';
import { DR_REGION, LOCAL_REGION } from '../local/settings';
import { SandboxAgent } from './agent';
import { DataPlane, type DataPlaneConfig } from './data-plane';
import { Fleet } from './fleet';
import { type Gateway, type GatewayHooks, startGateway } from './gateway';
import { BeatLog, instanceTagReader } from './heartbeat';
import { type RunContext, throwIfInterrupted } from './run-context';
import type { SandboxStepFunctions } from './step-functions-api';

/**
 * The sandbox's twin of AWS for one run: moto, the gateway in front of it, a node process per instance (the fleet),
 * the nodes' SSM agent, the load balancer's data plane, and the AWS environment variables that send this process's
 * SDK clients to the gateway. Everything it starts, it stops in reverse order: when the run ends, fails or is
 * interrupted, and when starting fails half-way.
 */
export interface SandboxEnvironment extends AsyncDisposable {
  /** The run's scratch directory: node data, logs, the cloud assembly. Kept when the run broke, removed otherwise. */
  readonly workDir: string;
  /** The port every node listens on, at its own IP. */
  readonly nodePort: number;
  /** The shared database file that migrations change. */
  readonly databaseFile: string;
  /** moto's SSM, directly rather than through the gateway. */
  readonly ssm: SSMClient;
  /** moto's CloudWatch, directly rather than through the gateway. */
  readonly cloudwatch: CloudWatchClient;
  /** moto's RDS, directly rather than through the gateway: the sandbox's own calls stay out of the AWS call counts. */
  readonly rds: RDSClient;
  readonly fleet: Fleet;
  readonly agent: SandboxAgent;
  readonly gateway: Gateway;
  /** The heartbeats the nodes' publishers sent through the gateway. */
  readonly beats: BeatLog;
  /**
   * Starts the data plane for the cluster's target groups, which exist only once the cluster is built; from then on
   * the fleet and the gateway talk to it.
   */
  startDataPlane(targetGroupArns: readonly string[], health: DataPlaneConfig['health']): Promise<DataPlane>;
  /** Has `stop` run when the environment stops, before the parts it started: for what the run starts on them. */
  defer(stop: () => Promise<void> | void): void;
  /** The run broke: its work dir is kept, as its node logs and moto's log explain it. */
  runFailed(): void;
  /** From now on the gateway answers Step Functions calls from the sandbox's own executions. */
  serveStepFunctions(api: SandboxStepFunctions): void;
}

type Stop = () => Promise<void> | void;

const RUNS_DIR = path.join(PROJECT_ROOT, '.cache', 'sandbox');
const CREDENTIALS = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox', sessionToken: 'sandbox' };
const AWS_ENVIRONMENT = [
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
];

/** Starts the environment in a new work dir under `parentDir`; a start that fails stops what it had started. */
export async function startSandboxEnvironment(run: RunContext, parentDir = RUNS_DIR): Promise<SandboxEnvironment> {
  fs.mkdirSync(parentDir, { recursive: true });
  const teardown = new Teardown(fs.mkdtempSync(path.join(parentDir, 'run-')), run);
  try {
    return await startParts(run, teardown);
  } catch (error) {
    teardown.runFailed();
    await teardown.stopAll();
    throw error;
  }
}

async function startParts(run: RunContext, teardown: Teardown): Promise<SandboxEnvironment> {
  const { workDir } = teardown;
  const spec = run.scenario.cluster;
  const moto = await startMotoServer(path.join(workDir, 'moto'));
  teardown.push(() => stopProcess(moto.pid));
  throwIfInterrupted(run.signal);
  const direct = { endpoint: moto.endpoint, region: LOCAL_REGION, credentials: CREDENTIALS };
  const ssm = new SSMClient(direct);
  const databaseFile = path.join(workDir, 'database.json');
  fs.writeFileSync(databaseFile, JSON.stringify({ schemaVersion: spec.version, migrations: [] }));
  const nodePort = await freeNodePort();
  let dataPlane: DataPlane | undefined;
  const fleet = new Fleet({
    ec2: [new EC2Client(direct), new EC2Client({ ...direct, region: DR_REGION })],
    nodePort,
    workDir,
    imageVersion: spec.version,
    bootMs: run.scaled(spec.bootSeconds),
    syncIntervalMs: Math.max(100, run.scaled(5)),
    databaseFile,
    ...(spec.database.oldVersionRunsOnNewSchema === undefined
      ? {}
      : { oldVersionRunsOnNewSchema: spec.database.oldVersionRunsOnNewSchema }),
    onChange: (nodes) => void dataPlane?.call('setNodes', nodes).catch(() => undefined),
  });
  teardown.push(() => fleet.stopAll());
  const beats = new BeatLog();
  let stepFunctions: SandboxStepFunctions | undefined;
  const ec2 = [new EC2Client(direct), new EC2Client({ ...direct, region: DR_REGION })];
  const agent = new SandboxAgent({
    ssm,
    nodeUrlOf: (id) => fleet.nodes.get(id)?.url,
    isOnline: (id) => fleet.isBooted(id),
  });
  teardown.push(() => agent.stop());
  const gateway = await startGateway({
    motoEndpoint: moto.endpoint,
    hooks: {
      ...gatewayHooks(fleet, agent, () => dataPlane),
      metricDataPut: (form) => beats.recordPut(form, spec.name),
      instanceTags: instanceTagReader(ec2),
      instanceAddress: (instanceId) => fleet.nodes.get(instanceId)?.ip,
      stepFunctions: (operation, request) => stepFunctions?.handle(operation, request),
    },
  });
  teardown.push(() => gateway.close());
  teardown.push(sendAwsClientsTo(gateway.endpoint));
  return {
    workDir,
    nodePort,
    databaseFile,
    ssm,
    cloudwatch: new CloudWatchClient(direct),
    rds: new RDSClient(direct),
    fleet,
    agent,
    gateway,
    beats,
    async startDataPlane(targetGroupArns, health) {
      const plane = DataPlane.start({
        motoEndpoint: moto.endpoint,
        credentials: CREDENTIALS,
        primaryRegion: LOCAL_REGION,
        drRegion: DR_REGION,
        targetGroupArns,
        health,
      });
      dataPlane = plane;
      teardown.push(() => plane.close());
      await plane.call(
        'setNodes',
        [...fleet.nodes.values()].map((node) => [node.instanceId, node.ip] as const),
      );
      return plane;
    },
    defer: (stop) => teardown.push(stop),
    runFailed: () => teardown.runFailed(),
    serveStepFunctions: (api) => {
      stepFunctions = api;
    },
    [Symbol.asyncDispose]: () => teardown.stopAll(),
  };
}

/** The calls moto has no data plane for go to the fleet, the agent and, once it runs, the data plane. */
function gatewayHooks(
  fleet: Fleet,
  agent: SandboxAgent,
  dataPlane: () => DataPlane | undefined,
): Omit<GatewayHooks, 'metricDataPut' | 'instanceTags' | 'instanceAddress' | 'stepFunctions'> {
  return {
    instancesLaunched: (ids) => fleet.launched(ids),
    instancesTerminating: (ids) => fleet.stop(ids),
    targetHealth: async (arn, targets) => {
      const plane = dataPlane();
      return plane ? plane.call('describeTargets', arn, targets) : targets.map((t) => ({ ...t, state: 'initial' }));
    },
    targetsDeregistered: (arn, targets) =>
      void dataPlane()
        ?.call('deregistered', arn, targets)
        .catch(() => undefined),
    listenerModified: async () => {
      await dataPlane()?.call('refreshWeights');
    },
    commandSent: (commandId, request) => agent.commandSent(commandId, request),
    ssmRead: (operation, request) => agent.read(operation, request),
  };
}

/**
 * Sends the SDK clients of this process (the handlers', and those local/ builds) to the gateway, and returns what
 * restores the variables as they were. The clients are built when their modules load, but read AWS_ENDPOINT_URL,
 * the region and the credentials at their first request, and keep what they read: so the variables must be set
 * before the run's first AWS call through them, and stay set until its last. (moto's direct clients here are
 * configured explicitly and read none of them.)
 */
function sendAwsClientsTo(endpoint: string): Stop {
  const saved = Object.fromEntries(AWS_ENVIRONMENT.map((name) => [name, process.env[name]]));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  });
  delete process.env.AWS_PROFILE;
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** The environment's stops, run last first, and its work dir, removed at the end unless the run broke. */
class Teardown {
  private readonly stops: Stop[] = [];
  private keepWorkDir = false;

  constructor(
    readonly workDir: string,
    private readonly run: RunContext,
  ) {}

  push(stop: Stop): void {
    this.stops.push(stop);
  }

  runFailed(): void {
    // The node logs and moto's log explain a run that broke; an interrupted run needs no explaining.
    if (!this.run.signal?.aborted) this.keepWorkDir = true;
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch {
        // Keep cleaning up: one stuck part must not leave the others running.
      }
    }
    if (this.keepWorkDir) this.run.progress(`The run failed; its logs are in ${this.workDir}`);
    else fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}
