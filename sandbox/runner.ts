import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { drStackIdFor, stackIdFor } from '../cdk/app';
import { PROJECT_ROOT } from '../cdk/paths';
import type { ClusterModel } from '../functions/domain/cluster-model';
import { WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import { buildLocalApp, localClusterModel } from '../local/local-app';
import { freeLoopbackPort, type MotoServer, startMotoServer, stopProcess } from '../local/moto-server';
import { DR_REGION, LOCAL_REGION } from '../local/settings';
import { readCloudAssembly, type SynthesizedStack } from '../local/synth';
import { resourcesOfType } from '../local/template';
import { FAILOVER_STATES } from '../statemachines/failover';
import { SandboxAgent } from './agent';
import {
  AlarmEvaluator,
  alarmRoutesOf,
  alarmStateChangeEvent,
  matchesPattern,
  nodeAlarmsOf,
  transformInput,
} from './alarms';
import { DataPlane, type TrafficResult } from './data-plane';
import { deadlineAfterPendingIo } from './deadline';
import { createDocuments } from './documents';
import { Fleet } from './fleet';
import { startGateway } from './gateway';
import { summarize } from './load';
import type { NodeStatus } from './node/protocol';
import { type ExecutionReport, evaluateExpectations, type SandboxReport } from './report';
import type { Scenario, ScenarioStep } from './scenario';

/**
 * Runs a scenario in the sandbox: moto behind the gateway, a node process per instance, real health checks, the
 * load balancer's data plane and steady load, and the synthesized state machines executed locally with the real
 * handlers. Everything it starts, it stops, also when the run fails or is interrupted through `signal`.
 */

export interface RunOptions {
  /** Called with a line of progress as the run goes. */
  readonly onProgress?: (line: string) => void;
  /** Aborting stops the run and cleans up. */
  readonly signal?: AbortSignal;
  /** Where the run's scratch directory (node data, logs, the cloud assembly) is made; it is removed at the end. */
  readonly workDir?: string;
}

/** Generous: nodes boot in a few seconds, and starting their processes takes longer on a busy machine. */
const READY_TIMEOUT_MS = 120_000;
const PROGRESS_STATE_TYPES = new Set(['Task', 'Wait', 'Succeed', 'Fail']);
const SAMPLE_INTERVAL_MS = 100;
/** Generous: on a loaded machine a node serving the load can take seconds to answer its status. */
const STATUS_TIMEOUT_MS = 10_000;
/**
 * The least time a health check waits for a node. Health-check intervals shrink with the time scale, but how fast a
 * process answers does not: on a busy machine a healthy node can take a second to be scheduled. A dead node refuses
 * at once, so the floor delays nothing but the verdict on a node that hangs.
 */
const HEALTH_CHECK_TIMEOUT_FLOOR_MS = 2_000;
/**
 * How long a node's heartbeat check waits, as the node's agent checks its own server before it publishes the beat:
 * real time, not scaled. A beat that is late is still a beat; only a node that does not answer misses one.
 */
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** Longer than the load balancer's own 60 s limit, so the client sees the load balancer's verdict. */
const CLIENT_TIMEOUT_MS = 70_000;
const LOAD_TAIL_MS = 1_000;
/** Route 53 answers for an alias record to a load balancer with a 60-second TTL. */
const ALIAS_TTL_SECONDS = 60;
const AWS_ENVIRONMENT = [
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
];
const CREDENTIALS = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox', sessionToken: 'sandbox' };

export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<SandboxReport> {
  const progress = options.onProgress ?? (() => {});
  const cleanups: (() => Promise<void> | void)[] = [];
  const aborted = () => {
    if (options.signal?.aborted) throw new Error('The sandbox run was interrupted');
  };
  const runsDir = path.join(PROJECT_ROOT, '.cache', 'sandbox');
  fs.mkdirSync(options.workDir ?? runsDir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(options.workDir ?? runsDir, 'run-'));
  let keepWorkDir = false;
  const scaled = (seconds: number) => seconds * 1000 * scenario.timeScale;
  const started = Date.now();
  const clock = () => ((Date.now() - started) / 1000).toFixed(1).padStart(6);

  try {
    const moto: MotoServer = await startMotoServer(path.join(workDir, 'moto'));
    cleanups.push(() => stopProcess(moto.pid));
    aborted();
    const direct = { endpoint: moto.endpoint, region: LOCAL_REGION, credentials: CREDENTIALS };
    const ec2 = new EC2Client(direct);
    const ssm = new SSMClient(direct);
    const drDirect = { ...direct, region: DR_REGION };

    const { cluster: spec } = scenario;
    const databaseFile = path.join(workDir, 'database.json');
    fs.writeFileSync(databaseFile, JSON.stringify({ schemaVersion: spec.version, migrations: [] }));
    const nodePort = await freeLoopbackPort();
    let dataPlane: DataPlane | undefined;
    const fleet = new Fleet({
      ec2: [ec2, new EC2Client(drDirect)],
      nodePort,
      workDir,
      imageVersion: spec.version,
      bootMs: scaled(spec.bootSeconds),
      syncIntervalMs: Math.max(100, scaled(5)),
      databaseFile,
      onChange: (nodes) => void dataPlane?.call('setNodes', nodes).catch(() => undefined),
    });
    cleanups.push(() => fleet.stopAll());
    const agent = new SandboxAgent({
      ssm,
      nodeUrlOf: (id) => fleet.nodes.get(id)?.url,
      isOnline: (id) => fleet.isBooted(id),
    });
    cleanups.push(() => agent.stop());
    const gateway = await startGateway({
      motoEndpoint: moto.endpoint,
      hooks: {
        instancesLaunched: (ids) => fleet.launched(ids),
        instancesTerminating: (ids) => fleet.stop(ids),
        targetHealth: async (arn, targets) =>
          dataPlane
            ? dataPlane.call('describeTargets', arn, targets)
            : targets.map((t) => ({ ...t, state: 'initial' })),
        targetsDeregistered: (arn, targets) =>
          void dataPlane?.call('deregistered', arn, targets).catch(() => undefined),
        listenerModified: async () => {
          await dataPlane?.call('refreshWeights');
        },
        commandSent: (commandId, request) => agent.commandSent(commandId, request),
        ssmRead: (operation, request) => agent.read(operation, request),
      },
    });
    cleanups.push(() => gateway.close());
    const saved = Object.fromEntries(AWS_ENVIRONMENT.map((name) => [name, process.env[name]]));
    cleanups.push(() => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: gateway.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
    });
    delete process.env.AWS_PROFILE;

    progress(`[${clock()}s] synthesizing the stack of cluster "${spec.name}"`);
    const { stack, drStack } = synthesizeSandboxStacks(path.join(workDir, 'cdk.out'), spec.name);
    // Imported only now: the handlers' SDK clients read AWS_ENDPOINT_URL when they are created.
    const { provisionStackResources } = await import('../local/stack-resources');
    const { createMotoCluster } = await import('../local/moto-cluster');
    await provisionStackResources(stack);
    const commands = await createDocuments(ssm, `zerodown-${spec.name}`);
    const cluster = await createMotoCluster({
      name: spec.name,
      topology: spec.topology,
      nodePort,
      customize: (model) => ({
        ...model,
        commands,
        capacity: { minHealthyPercent: 75, drainSeconds: 30 },
      }),
    });
    const { createMotoDrSite } = await import('../local/moto-dr');
    const drSite = spec.dr ? await createMotoDrSite(cluster, { nodeCount: spec.nodes }) : undefined;
    const model = drSite?.model ?? cluster.model;
    const slotOf = new Map(Object.entries(cluster.targetGroups).map(([slot, arn]) => [arn, slot]));
    const targetGroupArns = [...Object.values(cluster.targetGroups), ...(drSite ? [drSite.targetGroupArn] : [])];
    const plane = DataPlane.start({
      motoEndpoint: moto.endpoint,
      credentials: CREDENTIALS,
      primaryRegion: LOCAL_REGION,
      drRegion: DR_REGION,
      targetGroupArns,
      health: {
        intervalMs: scaled(spec.healthCheck.intervalSeconds),
        // The scenario's timeout is the network's and the node's time to answer, which do not shrink with the time
        // scale: scaled down, a node answering at its normal speed on a busy machine would fail its checks.
        timeoutMs: Math.max(scaled(spec.healthCheck.timeoutSeconds), HEALTH_CHECK_TIMEOUT_FLOOR_MS),
        healthyThreshold: spec.healthCheck.healthyThreshold,
        unhealthyThreshold: spec.healthCheck.unhealthyThreshold,
        deregistrationDelayMs: scaled(model.capacity.drainSeconds),
        path: '/health',
      },
    });
    dataPlane = plane;
    cleanups.push(() => plane.close());
    await plane.call(
      'setNodes',
      [...fleet.nodes.values()].map((node) => [node.instanceId, node.ip] as const),
    );

    progress(`[${clock()}s] booting ${model.nodes.length} nodes (${spec.topology}, version ${spec.version})`);
    const permanentTargets = model.nodes.map((node) => ({ id: node.instanceId, port: nodePort }));
    await waitUntil(
      async () => (await plane.call('targetStates', permanentTargets)).every((state) => state === 'healthy'),
      READY_TIMEOUT_MS,
      'the permanent nodes to pass their health checks',
      options.signal,
    );
    await seedServices(spec.services, model, fleet, options.signal);
    // Loaded before the load starts, as the deployed engine is always up: a workflow, an alarm's included, starts at
    // once, and loading a handler's sources (seconds on a busy machine) never counts as a workflow's time.
    const localSfn = await import('../local/local-sfn');
    for (const ready of drSite ? [stack, drStack] : [stack]) localSfn.prepareStack(ready);

    const traffic = await plane.call('startTraffic', {
      listenerArn: model.traffic.listenerArn,
      ...(drSite
        ? {
            dr: {
              listenerArn: drSite.listenerArn,
              hostedZoneId: drSite.hostedZoneId,
              recordName: drSite.model.dr?.recordName ?? '',
              primaryDnsName: drSite.primaryDnsName,
              drDnsName: drSite.drDnsName,
              ttlMs: scaled(ALIAS_TTL_SECONDS),
            },
          }
        : {}),
      load: {
        requestsPerSecond: scenario.load.requestsPerSecond,
        maxDurationMs: scenario.load.maxDurationSeconds * 1000,
        timeoutMs: CLIENT_TIMEOUT_MS,
        serverTimeMs: scenario.load.serverTimeMs,
      },
    });
    const loadStarted = traffic.loadStartedAt;

    const describeWeights = () =>
      plane
        .view()
        .weights.map(([arn, weight]) => `${slotOf.get(arn) ?? arn}=${weight}`)
        .join(' ');
    const dnsAnswer = () => {
      const { dns } = plane.view();
      return dns === null ? '' : ` | DNS → ${dns === 'dr' ? 'DR' : 'primary'}`;
    };

    const executions: Promise<ExecutionReport>[] = [];
    const workflowContext = (onState?: (workflow: string, name: string, type: string) => void) => ({
      stackFor: (workflow: WorkflowName) => (WORKFLOWS[workflow].stack === 'dr' ? drStack : stack),
      clusterName: spec.name,
      timeScale: scenario.timeScale,
      ...(options.signal ? { signal: options.signal } : {}),
      runStarted: started,
      onState: (workflow: string, name: string, type: string) => {
        onState?.(workflow, name, type);
        // The loops' bookkeeping (Pass and Choice states) would drown the steps an operator follows.
        if (!PROGRESS_STATE_TYPES.has(type)) return;
        const view = plane.view();
        progress(
          `[${clock()}s] ${workflow} › ${name} | ${describeWeights()}${dnsAnswer()} | healthy serving ` +
            `${view.servingHealthy}/${traffic.baselineServing} | requests ${view.ok} ok, ${view.failed} failed`,
        );
      },
    });

    // Node loss is detected as deployed: heartbeat alarms, and the rules that start failover.
    const timeline = new FailoverTimeline();
    const alarms = nodeAlarmsOf(stack);
    const routes = alarmRoutesOf(stack);
    const { loadClusterModel } = await import('../functions/aws/ssm');
    const evaluator = new AlarmEvaluator({
      alarms,
      cloudwatch: new CloudWatchClient(direct),
      scaled,
      heartbeat: async (slot) => {
        const current = await loadClusterModel(ssm, spec.name).catch(() => model);
        const holder = current.nodes.find((node) => node.slot === slot);
        const url = holder ? fleet.nodes.get(holder.instanceId)?.url : undefined;
        if (!url) return false;
        return probeHealth(`${url}/health`, HEARTBEAT_TIMEOUT_MS);
      },
      onAlarm: (alarm, at) => {
        progress(`[${clock()}s] alarm ${alarm.alarmName} → ALARM`);
        timeline.detected(at.getTime());
        const event = alarmStateChangeEvent(alarm, 'ALARM', at, stack.env.region, stack.env.account);
        for (const route of routes.filter((candidate) => matchesPattern(candidate.pattern, event))) {
          const { workflow } = route;
          if (!workflow) continue;
          const input = transformInput(route, event) as Record<string, unknown>;
          progress(`[${clock()}s] start ${workflow} ${JSON.stringify(input)}`);
          const context = workflowContext((_workflow, name) => {
            if (name === FAILOVER_STATES.launchReplacement) timeline.replacementLaunching(Date.now());
          });
          executions.push(
            runWorkflow({ start: workflow, input }, context, 'alarm').then((report) => {
              // A failover that found the node under maintenance restored nothing.
              const replaced = report.states.some((state) => state.name === FAILOVER_STATES.adoptReplacement);
              if (report.status === 'SUCCEEDED' && replaced) timeline.redundancyRestored(Date.now());
              return report;
            }),
          );
        }
      },
    });
    await evaluator.start();
    cleanups.push(() => evaluator.stop());
    const detectionFloorSeconds = Math.max(0, ...alarms.map((alarm) => alarm.periodSeconds * alarm.datapointsToAlarm));

    const faultParts = {
      model,
      fleet,
      agent,
      forceUnhealthy: (instanceId: string) => void plane.call('forceUnhealthy', instanceId).catch(() => undefined),
      progress: (line: string) => progress(`[${clock()}s] ${line}`),
      nodeKilled: (instanceId: string) => {
        const slot = model.nodes.find((node) => node.instanceId === instanceId)?.slot;
        timeline.died(Date.now(), slot ? cluster.targetGroups[slot] : undefined);
      },
    };
    const stateFaults = scenario.steps.filter(
      (step): step is FaultStep & { atState: string } => 'fault' in step && step.atState !== undefined,
    );
    const timed = scenario.steps.filter((step) => step.at !== undefined);
    for (const step of timed.sort((a, b) => (a.at ?? 0) - (b.at ?? 0))) {
      await sleepUntil(loadStarted + scaled(step.at ?? 0), options.signal);
      if ('start' in step) {
        progress(`[${clock()}s] start ${step.start} ${JSON.stringify(step.input)}`);
        executions.push(
          runWorkflow(
            step,
            workflowContext((_workflow, name) => {
              for (const fault of stateFaults.filter((candidate) => candidate.atState === name)) {
                stateFaults.splice(stateFaults.indexOf(fault), 1);
                applyFault(fault, faultParts);
              }
            }),
          ),
        );
      } else {
        applyFault(step, faultParts);
      }
    }
    // Workflows the alarms start join the list as the run goes; the run ends once nothing is left to start.
    const settleDeadline = loadStarted + scenario.load.maxDurationSeconds * 1000;
    const detectionWindowMs = scaled(detectionFloorSeconds + Math.max(0, ...alarms.map((a) => a.periodSeconds)));
    let finished: ExecutionReport[] = [];
    for (;;) {
      finished = await Promise.all([...executions]);
      const settled =
        finished.length === executions.length &&
        evaluator.quiet() &&
        Date.now() - (timeline.lastDeathAt ?? 0) > detectionWindowMs;
      if (settled || Date.now() > settleDeadline) break;
      await sleepUntil(Date.now() + SAMPLE_INTERVAL_MS, options.signal);
    }
    evaluator.stop();
    await sleepUntil(Date.now() + LOAD_TAIL_MS, options.signal);
    const ended = await plane.call('stopTraffic');

    const [lockTable] = resourcesOfType(stack.template, 'AWS::DynamoDB::GlobalTable');
    const finalWeights = new Map(ended.weightChanges.at(-1)?.weights ?? []);
    // The model as it ends: a failover may have put a replacement node into a slot.
    const finalModel = await loadClusterModel(ssm, spec.name);
    const finalTargets = finalModel.nodes.map((node) => ({ id: node.instanceId, port: nodePort }));
    const finalHealth = await plane.call('targetStates', finalTargets);
    const finalState = await readFinalState(
      finalModel,
      fleet,
      finalWeights,
      slotOf,
      (instanceId) => finalHealth[finalTargets.findIndex((target) => target.id === instanceId)] === 'healthy',
      lockTable?.[0],
      databaseFile,
    );
    const requests = summarize(ended.records);
    const report: SandboxReport = {
      scenario: scenario.name,
      executions: finished,
      requests: {
        total: requests.total,
        ok: requests.ok,
        failed: requests.failed,
        failedByCause: requests.failedByCause,
        failedUnderLoad: requests.failedUnderLoad,
        byStatus: requests.byStatus,
        failures: requests.failures,
      },
      requestsByNode: requests.byNode,
      weights: ended.weightChanges.map((change) => ({
        at: Math.max(0, Math.round(((change.at - ended.loadStartedAt) / 1000 / scenario.timeScale) * 100) / 100),
        weights: Object.fromEntries(change.weights.map(([arn, weight]) => [slotOf.get(arn) ?? arn, weight])),
      })),
      ...timeline.report({ detectionFloorSeconds, timeScale: scenario.timeScale, traffic: ended }),
      availability: requests.total === 0 ? 1 : requests.ok / requests.total,
      minHealthyCapacityPercent: Math.round((ended.minServing / ended.baselineServing) * 100),
      finalState,
      awsCalls: Object.fromEntries(gateway.calls),
      stateTransitions: finished.reduce((sum, execution) => sum + execution.stateTransitions, 0),
      durationSeconds: (Date.now() - started) / 1000,
      timeScale: scenario.timeScale,
      expectations: [],
    };
    return { ...report, expectations: evaluateExpectations(scenario, report) };
  } catch (error) {
    // The node logs and moto's log explain a run that broke; an interrupted run needs no explaining.
    if (!options.signal?.aborted) keepWorkDir = true;
    throw error;
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // Keep cleaning up: one stuck part must not leave the others running.
      }
    }
    if (keepWorkDir) progress(`The run failed; its logs are in ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Runs one workflow of the scenario with the real handlers, and reports it: status, states entered, and its time
 * split into waiting on the world (Wait states: drains, bakes, the pauses between polls) and orchestration (Lambda
 * calls, polls and state transitions).
 */
async function runWorkflow(
  step: { start: WorkflowName; input: Record<string, unknown> },
  context: {
    stackFor: (workflow: WorkflowName) => SynthesizedStack;
    clusterName: string;
    timeScale: number;
    signal?: AbortSignal;
    /** Date.now() when the sandbox run started; state times count from there. */
    runStarted: number;
    onState: (workflow: string, name: string, type: string) => void;
  },
  trigger: ExecutionReport['trigger'] = 'scenario',
): Promise<ExecutionReport> {
  // Imported only when the run has set AWS_ENDPOINT_URL: the handlers' SDK clients read it when they are created.
  const { runLocally, definitionOf, stateMachineLogicalId } = await import('../local/local-sfn');
  const workflow = step.start;
  const stack = context.stackFor(workflow);
  const waits = new Set(
    Object.entries(definitionOf(stack, stateMachineLogicalId(stack, workflow)).States)
      .filter(([, state]) => state.Type === 'Wait')
      .map(([name]) => name),
  );
  const states: { name: string; at: number }[] = [];
  let waitingMs = 0;
  let waitEnteredAt = 0;
  const startedAt = new Date();
  const result = await runLocally({
    stack,
    stateMachine: workflow,
    input: { cluster: context.clusterName, ...step.input },
    timeScale: context.timeScale,
    ...(context.signal ? { signal: context.signal } : {}),
    onEvent: (event) => {
      if ('state' in event && waits.has(event.state.name)) {
        if (event.type === 'StateEntered') waitEnteredAt = Date.now();
        if (event.type === 'StateExited') waitingMs += Date.now() - waitEnteredAt;
      }
      if (event.type !== 'StateEntered') return;
      states.push({ name: event.state.name, at: Date.now() - context.runStarted });
      context.onState(workflow, event.state.name, event.state.type);
    },
  });
  return {
    workflow,
    trigger,
    status: result.status,
    durationSeconds: result.durationMs / 1000,
    waitingSeconds: waitingMs / 1000,
    orchestrationSeconds: (result.durationMs - waitingMs) / 1000,
    ...(result.error ? { error: result.error } : {}),
    ...(result.cause ? { cause: result.cause } : {}),
    ...rtoOf(result.output, context.timeScale),
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    stateTransitions: result.stateTransitions,
    states,
  };
}

/** A workflow that reports an RTO (region failover, drill) measures it in real seconds; the report gives AWS's. */
function rtoOf(output: unknown, timeScale: number): { rtoSeconds?: number } {
  const measured = (output as { rtoSeconds?: unknown } | undefined)?.rtoSeconds;
  return typeof measured === 'number' ? { rtoSeconds: Math.round((measured / timeScale) * 100) / 100 } : {};
}

/**
 * The production app for one sandbox cluster: its stack and its DR stack. The model's ARNs are placeholders; the
 * handlers read the real model from moto.
 */
function synthesizeSandboxStacks(outdir: string, clusterName: string) {
  buildLocalApp(outdir, [{ ...localClusterModel(), name: clusterName }]).synth();
  const assembly = readCloudAssembly(outdir);
  return { stack: assembly.stack(stackIdFor(clusterName)), drStack: assembly.stack(drStackIdFor(clusterName)) };
}

type FaultStep = Extract<ScenarioStep, { fault: string }>;

function applyFault(
  step: FaultStep,
  parts: {
    model: ClusterModel;
    fleet: Fleet;
    agent: SandboxAgent;
    forceUnhealthy: (instanceId: string) => void;
    progress: (line: string) => void;
    nodeKilled: (instanceId: string) => void;
  },
): void {
  const target = resolveTarget(step.target, parts.model, parts.fleet);
  parts.progress(`fault ${step.fault} on ${step.target} (${target ?? 'no such node'})`);
  switch (step.fault) {
    case 'kill-node':
      if (target) {
        parts.nodeKilled(target);
        void parts.fleet.stop([target]);
      }
      break;
    case 'fail-command': {
      const documentName = step.command
        ? parts.model.commands[step.command as keyof ClusterModel['commands']]?.documentName
        : undefined;
      parts.agent.failNext({ ...(documentName ? { documentName } : {}), ...(target ? { instanceId: target } : {}) });
      break;
    }
    case 'unhealthy':
      if (target) parts.forceUnhealthy(target);
      break;
    case 'slow-boot':
      parts.fleet.slowBoot(5);
      break;
  }
}

function resolveTarget(target: string, model: ClusterModel, fleet: Fleet): string | undefined {
  if (target.startsWith('i-')) return target;
  if (target === 'surge') return [...fleet.nodes.values()].find((node) => node.role === 'surge')?.instanceId;
  return model.nodes.find((node) => node.role === target)?.instanceId;
}

async function readFinalState(
  model: ClusterModel,
  fleet: Fleet,
  weights: ReadonlyMap<string, number>,
  slotOf: ReadonlyMap<string, string>,
  isHealthy: (instanceId: string) => boolean,
  lockTableName: string | undefined,
  databaseFile: string,
): Promise<SandboxReport['finalState']> {
  const { readLock } = await import('../functions/domain/lock');
  const { dynamoDbLockStore } = await import('../functions/aws/dynamodb');
  const { dynamodbClient } = await import('../functions/aws/clients/dynamodb');
  const { findSurgeNodes } = await import('../functions/aws/ec2');
  const { ec2Client } = await import('../functions/aws/clients/ec2');
  const nodes = await Promise.all(
    model.nodes.map(async (node) => {
      const running = fleet.nodes.get(node.instanceId);
      const status = running
        ? await fetch(`${running.url}/_control/status`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
            .then((answer) => (answer.ok ? (answer.json() as Promise<NodeStatus>) : undefined))
            .catch(() => undefined)
        : undefined;
      const arn = [...slotOf].find(([, slot]) => slot === node.slot)?.[0] ?? '';
      return {
        id: node.instanceId,
        role: node.role,
        version: status?.version ?? null,
        services: (status?.services ?? []).map((service) => `${service.service} ${service.artifact}`),
        weight: weights.get(arn) ?? 0,
        healthy: isHealthy(node.instanceId),
      };
    }),
  );
  const schemaVersion = (JSON.parse(fs.readFileSync(databaseFile, 'utf8')) as { schemaVersion?: string }).schemaVersion;
  const lock = lockTableName
    ? await readLock(dynamoDbLockStore({ dynamodb: dynamodbClient, tableName: lockTableName }), model.name).catch(
        () => undefined,
      )
    : undefined;
  const surgeNodes = await findSurgeNodes(ec2Client, model);
  return { nodes, schemaVersion: schemaVersion ?? null, lockHeld: lock !== undefined, surgeNodes: surgeNodes.length };
}

/** Deploys the scenario's services on the manager and waits until file sync has put them on every node. */
async function seedServices(
  services: Scenario['cluster']['services'],
  model: ClusterModel,
  fleet: Fleet,
  signal?: AbortSignal,
): Promise<void> {
  if (services.length === 0) return;
  const manager = model.nodes.find((node) => node.role === 'manager');
  const url = manager ? fleet.nodes.get(manager.instanceId)?.url : undefined;
  if (!url) throw new Error('The manager node is not running');
  for (const service of services) {
    const answer = await fetch(`${url}/_control/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(service),
      signal: AbortSignal.timeout(5_000),
    });
    if (!answer.ok) throw new Error(`Deploying ${service.service} on the manager failed: HTTP ${answer.status}`);
  }
  const synced = new Set<string>();
  await waitUntil(
    async () => {
      for (const node of model.nodes) {
        if (synced.has(node.instanceId)) continue;
        const nodeUrl = fleet.nodes.get(node.instanceId)?.url;
        const found = await Promise.all(
          services.map((service) =>
            fetch(`${nodeUrl}/services/${service.service}`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
              .then(
                async (answer) =>
                  answer.ok && ((await answer.json()) as { artifact?: string }).artifact === service.artifact,
              )
              .catch(() => false),
          ),
        );
        if (found.every(Boolean)) synced.add(node.instanceId);
      }
      return synced.size === model.nodes.length;
    },
    READY_TIMEOUT_MS,
    'file sync to put the seeded services on every node',
    signal,
  );
}

async function waitUntil(
  done: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (signal?.aborted) throw new Error('The sandbox run was interrupted');
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether the URL answers 200 within the time, judged only after pending answers were read (see deadline.ts). */
async function probeHealth(url: string, timeoutMs: number): Promise<boolean> {
  const controller = new AbortController();
  const cancel = deadlineAfterPendingIo(timeoutMs, () => controller.abort());
  try {
    const answer = await fetch(url, { signal: controller.signal });
    await answer.arrayBuffer();
    return answer.ok;
  } catch {
    return false;
  } finally {
    cancel();
  }
}

async function sleepUntil(time: number, signal?: AbortSignal): Promise<void> {
  while (Date.now() < time) {
    if (signal?.aborted) throw new Error('The sandbox run was interrupted');
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, time - Date.now())));
  }
}

/**
 * When a killed node died, when its alarm fired, when the load balancer stopped sending the node's target group
 * traffic (read from the data plane's record of the weights it applied), when failover began to launch a replacement,
 * and when it restored redundancy. Reported in scenario seconds since the load started, the time AWS would take: real
 * time divided by the time scale.
 */
class FailoverTimeline {
  lastDeathAt: number | undefined;
  private death: { at: number; targetGroup: string | undefined } | undefined;
  private detectedAt: number | undefined;
  private replacementLaunchedAt: number | undefined;
  private redundancyRestoredAt: number | undefined;

  died(at: number, targetGroup: string | undefined): void {
    this.lastDeathAt = at;
    this.death ??= { at, targetGroup };
  }

  detected(at: number): void {
    this.detectedAt ??= at;
  }

  replacementLaunching(at: number): void {
    this.replacementLaunchedAt ??= at;
  }

  redundancyRestored(at: number): void {
    this.redundancyRestoredAt ??= at;
  }

  report(options: { detectionFloorSeconds: number; timeScale: number; traffic: TrafficResult }): {
    failover?: SandboxReport['failover'];
  } {
    const { death } = this;
    if (!death) return {};
    const { traffic, timeScale } = options;
    const seconds = (at: number | undefined) =>
      at === undefined ? null : Math.round(((at - traffic.loadStartedAt) / 1000 / timeScale) * 100) / 100;
    const weightAt = (change: TrafficResult['weightChanges'][number] | undefined) =>
      new Map(change?.weights ?? []).get(death.targetGroup ?? '') ?? 0;
    const atDeath = traffic.weightChanges.filter((change) => change.at <= death.at).at(-1);
    // A node that carried no traffic leaves nothing to restore.
    const trafficRestoredAtMs =
      weightAt(atDeath) > 0
        ? traffic.weightChanges.find((change) => change.at > death.at && weightAt(change) === 0)?.at
        : death.at;
    const diedAt = seconds(death.at) ?? 0;
    const trafficRestoredAt = seconds(trafficRestoredAtMs);
    const detectedAt = seconds(this.detectedAt);
    const windowEnd = trafficRestoredAtMs ?? Number.POSITIVE_INFINITY;
    const failed = traffic.records.filter((record) => record.status < 200 || record.status >= 500);
    // A request belongs to the window if it ended after the death and was sent before the traffic moved.
    const outside = failed.filter((record) => {
      const sent = traffic.loadStartedAt + record.at;
      return sent + record.latencyMs < death.at || sent > windowEnd;
    });
    return {
      failover: {
        diedAt,
        detectedAt,
        trafficRestoredAt,
        replacementLaunchedAt: seconds(this.replacementLaunchedAt),
        redundancyRestoredAt: seconds(this.redundancyRestoredAt),
        detectionFloorSeconds: options.detectionFloorSeconds,
        detectionSeconds: detectedAt === null ? null : Math.round((detectedAt - diedAt) * 100) / 100,
        orchestrationSeconds:
          detectedAt === null || trafficRestoredAt === null
            ? null
            : Math.round((trafficRestoredAt - detectedAt) * 100) / 100,
        rtoSeconds: trafficRestoredAt === null ? null : Math.round((trafficRestoredAt - diedAt) * 100) / 100,
        failedRequests: failed.length,
        failedOutsideWindow: outside.length,
        firstFailedOutsideWindow: outside.slice(0, 5),
      },
    };
  }
}
