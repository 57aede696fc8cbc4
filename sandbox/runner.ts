import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SSMClient } from '@aws-sdk/client-ssm';
import { App } from 'aws-cdk-lib';
import { buildApp, drStackIdFor, stackIdFor } from '../cdk/app';
import type { ClusterModel } from '../functions/lib/cluster-model';
import { freeLoopbackPort, type MotoServer, startMotoServer, stopProcess } from '../test/harness/moto-server';
import { DR_REGION, PROJECT_ROOT, TEST_REGION } from '../test/harness/settings';
import { readCloudAssembly, type SynthesizedStack } from '../test/harness/synth';
import { resourcesOfType } from '../test/harness/template';
import { testClusterModel } from '../test/harness/test-app';
import { SandboxAgent } from './agent';
import {
  AlarmEvaluator,
  alarmRoutesOf,
  alarmStateChangeEvent,
  matchesPattern,
  nodeAlarmsOf,
  transformInput,
} from './alarms';
import { startDnsFront } from './dns-front';
import { createDocuments } from './documents';
import { Fleet } from './fleet';
import { startGateway } from './gateway';
import { HealthChecker } from './health-checker';
import { type RequestRecord, startLoad, summarize } from './load';
import { startLoadBalancer } from './load-balancer';
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

const STATE_MACHINE_IDS: Record<string, string> = {
  'patch-server': 'ClusterWorkflowsPatchServer',
  'upgrade-version': 'ClusterWorkflowsUpgradeVersion',
  'deploy-service': 'ClusterWorkflowsDeployService',
  'update-service': 'ClusterWorkflowsUpdateService',
  failover: 'ClusterWorkflowsFailover',
  'region-failover': 'RegionFailover',
};
/** Workflows that run from the DR stack, in the DR region. */
const DR_WORKFLOWS = new Set(['region-failover']);
const READY_TIMEOUT_MS = 60_000;
const PROGRESS_STATE_TYPES = new Set(['Task', 'Wait', 'Succeed', 'Fail']);
const SAMPLE_INTERVAL_MS = 100;
/** Generous: on a loaded machine a node serving the load can take seconds to answer its status. */
const STATUS_TIMEOUT_MS = 10_000;
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
    const direct = { endpoint: moto.endpoint, region: TEST_REGION, credentials: CREDENTIALS };
    const ec2 = new EC2Client(direct);
    const elbv2 = new ElasticLoadBalancingV2Client(direct);
    const ssm = new SSMClient(direct);
    const drDirect = { ...direct, region: DR_REGION };
    const drElbv2 = new ElasticLoadBalancingV2Client(drDirect);
    const elbv2For = (arn: string) => (arn.split(':')[3] === DR_REGION ? drElbv2 : elbv2);

    const { cluster: spec } = scenario;
    const databaseFile = path.join(workDir, 'database.json');
    fs.writeFileSync(databaseFile, JSON.stringify({ schemaVersion: spec.version, migrations: [] }));
    const nodePort = await freeLoopbackPort();
    const fleet = new Fleet({
      ec2: [ec2, new EC2Client(drDirect)],
      nodePort,
      workDir,
      imageVersion: spec.version,
      bootMs: scaled(spec.bootSeconds),
      syncIntervalMs: Math.max(100, scaled(5)),
      databaseFile,
    });
    cleanups.push(() => fleet.stopAll());
    let health: HealthChecker | undefined;
    const ipOf = (id: string) => fleet.nodes.get(id)?.ip;
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
        targetHealth: (arn, targets) =>
          health?.describe(arn, targets) ?? targets.map((t) => ({ ...t, state: 'initial' })),
        targetsDeregistered: (arn, targets) => health?.deregistered(arn, targets),
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
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
    });
    delete process.env.AWS_PROFILE;

    progress(`[${clock()}s] synthesizing the stack of cluster "${spec.name}"`);
    const { stack, drStack } = synthesizeSandboxStacks(path.join(workDir, 'cdk.out'), spec.name);
    // Imported only now: the handlers' SDK clients read AWS_ENDPOINT_URL when they are created.
    const { provisionStackResources } = await import('../test/harness/stack-resources');
    const { createMotoCluster } = await import('../test/harness/moto-cluster');
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
    const { createMotoDrSite } = await import('../test/harness/moto-dr');
    const drSite = spec.dr ? await createMotoDrSite(cluster, { nodeCount: spec.nodes }) : undefined;
    const model = drSite?.model ?? cluster.model;
    const slotOf = new Map(Object.entries(cluster.targetGroups).map(([slot, arn]) => [arn, slot]));
    const settings = {
      intervalMs: scaled(spec.healthCheck.intervalSeconds),
      timeoutMs: Math.min(scaled(spec.healthCheck.timeoutSeconds), scaled(spec.healthCheck.intervalSeconds)),
      healthyThreshold: spec.healthCheck.healthyThreshold,
      unhealthyThreshold: spec.healthCheck.unhealthyThreshold,
      deregistrationDelayMs: scaled(model.capacity.drainSeconds),
      path: '/health',
    };
    const targetGroupArns = [...Object.values(cluster.targetGroups), ...(drSite ? [drSite.targetGroupArn] : [])];
    health = new HealthChecker({ elbv2For, targetGroupArns, ipOf, settings });
    health.start();
    const checker = health;
    cleanups.push(() => checker.stop());

    progress(`[${clock()}s] booting ${model.nodes.length} nodes (${spec.topology}, version ${spec.version})`);
    await waitUntil(
      async () =>
        model.nodes.every((node) => checker.stateOf({ id: node.instanceId, port: nodePort }).state === 'healthy'),
      READY_TIMEOUT_MS,
      'the permanent nodes to pass their health checks',
      options.signal,
    );
    await seedServices(spec.services, model, fleet, options.signal);
    // Loaded before the load starts, as the deployed engine is always up: an alarm's workflow starts at once.
    const localSfn = await import('../test/harness/local-sfn');
    localSfn.prepareMachine(stack, STATE_MACHINE_IDS.failover);
    const lb = await startLoadBalancer({ elbv2, listenerArn: model.traffic.listenerArn, health: checker, ipOf });
    cleanups.push(() => lb.close());
    // With a DR site, clients reach the cluster by its DNS name, as Route 53 (moto's records) answers it.
    let entry = lb.url;
    let dnsAnswer = () => '';
    if (drSite) {
      const drLb = await startLoadBalancer({ elbv2: drElbv2, listenerArn: drSite.listenerArn, health: checker, ipOf });
      cleanups.push(() => drLb.close());
      const front = await startDnsFront({
        route53: new Route53Client({ ...direct, region: 'us-east-1' }),
        hostedZoneId: drSite.hostedZoneId,
        recordName: drSite.model.dr?.recordName ?? '',
        loadBalancers: new Map([
          [drSite.primaryDnsName.toLowerCase(), lb.url],
          [drSite.drDnsName.toLowerCase(), drLb.url],
        ]),
        ttlMs: scaled(ALIAS_TTL_SECONDS),
      });
      cleanups.push(() => front.close());
      entry = front.url;
      dnsAnswer = () => (front.answer() === drSite.drDnsName.toLowerCase() ? ' | DNS → DR' : ' | DNS → primary');
    }
    const loadStarted = Date.now();
    const load = startLoad(entry, {
      requestsPerSecond: scenario.load.requestsPerSecond,
      maxDurationMs: scenario.load.maxDurationSeconds * 1000,
      timeoutMs: 5_000,
      serverTimeMs: scenario.load.serverTimeMs,
    });
    cleanups.push(() => load.stop());

    const describeWeights = () =>
      [...lb.weights()].map(([arn, weight]) => `${slotOf.get(arn) ?? arn}=${weight}`).join(' ');
    const servingHealthy = () =>
      [...lb.weights()].filter(([arn, weight]) => weight > 0 && checker.healthyTargets(arn).length > 0).length;
    const baseline = Math.max(1, servingHealthy());
    let minServing = baseline;
    const sampler = setInterval(() => {
      minServing = Math.min(minServing, servingHealthy());
    }, SAMPLE_INTERVAL_MS);
    cleanups.push(() => clearInterval(sampler));

    const executions: Promise<ExecutionReport>[] = [];
    const workflowContext = (onState?: (workflow: string, name: string, type: string) => void) => ({
      stackFor: (workflow: string) => (DR_WORKFLOWS.has(workflow) ? drStack : stack),
      clusterName: spec.name,
      timeScale: scenario.timeScale,
      ...(options.signal ? { signal: options.signal } : {}),
      runStarted: started,
      onState: (workflow: string, name: string, type: string) => {
        onState?.(workflow, name, type);
        // The loops' bookkeeping (Pass and Choice states) would drown the steps an operator follows.
        if (!PROGRESS_STATE_TYPES.has(type)) return;
        const requests = summarize(load.records);
        progress(
          `[${clock()}s] ${workflow} › ${name} | ${describeWeights()}${dnsAnswer()} | healthy serving ` +
            `${servingHealthy()}/${baseline} | requests ${requests.ok} ok, ${requests.failed} failed`,
        );
      },
    });

    // Node loss is detected as deployed: heartbeat alarms, and the rules that start failover.
    const timeline = new FailoverTimeline(loadStarted);
    const alarms = nodeAlarmsOf(stack);
    const routes = alarmRoutesOf(stack);
    const { loadClusterModel } = await import('../functions/lib/cluster-store');
    const evaluator = new AlarmEvaluator({
      alarms,
      cloudwatch: new CloudWatchClient(direct),
      scaled,
      heartbeat: async (slot) => {
        const current = await loadClusterModel(ssm, spec.name).catch(() => model);
        const holder = current.nodes.find((node) => node.slot === slot);
        const url = holder ? fleet.nodes.get(holder.instanceId)?.url : undefined;
        if (!url) return false;
        return fetch(`${url}/health`, { signal: AbortSignal.timeout(Math.max(200, scaled(1))) })
          .then((answer) => answer.ok)
          .catch(() => false);
      },
      onAlarm: (alarm, at) => {
        progress(`[${clock()}s] alarm ${alarm.alarmName} → ALARM`);
        timeline.detected(at.getTime());
        const event = alarmStateChangeEvent(alarm, 'ALARM', at, stack.env.region, stack.env.account);
        for (const route of routes.filter((candidate) => matchesPattern(candidate.pattern, event))) {
          const workflow = Object.entries(STATE_MACHINE_IDS).find(([, id]) =>
            route.stateMachineArn.split(':').at(-1)?.startsWith(id),
          )?.[0];
          if (!workflow) continue;
          const input = transformInput(route, event) as Record<string, unknown>;
          progress(`[${clock()}s] start ${workflow} ${JSON.stringify(input)}`);
          executions.push(
            runWorkflow({ start: workflow, input }, workflowContext(), 'alarm').then((report) => {
              // A failover that found the node under maintenance restored nothing.
              const replaced = report.states.some((state) => state.name === 'Adopt the replacement into the slot');
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
    const trafficWatch = setInterval(() => {
      const lostGroup = timeline.lostTargetGroup;
      if (lostGroup && (lb.weights().get(lostGroup) ?? 0) === 0) timeline.trafficRestored(Date.now());
    }, SAMPLE_INTERVAL_MS);
    cleanups.push(() => clearInterval(trafficWatch));

    const faultParts = {
      model,
      fleet,
      agent,
      health: checker,
      progress: (line: string) => progress(`[${clock()}s] ${line}`),
      nodeKilled: (instanceId: string) => {
        const slot = model.nodes.find((node) => node.instanceId === instanceId)?.slot;
        const group = slot ? cluster.targetGroups[slot] : undefined;
        timeline.died(Date.now(), (group ?? '') && (lb.weights().get(group ?? '') ?? 0) > 0 ? group : undefined);
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
    await load.stop();
    clearInterval(sampler);

    const [lockTable] = resourcesOfType(stack.template, 'AWS::DynamoDB::GlobalTable');
    const finalState = await readFinalState(
      await loadClusterModel(ssm, spec.name),
      fleet,
      lb.weights(),
      slotOf,
      checker,
      nodePort,
      lockTable?.[0],
      databaseFile,
    );
    const requests = summarize(load.records);
    const report: SandboxReport = {
      scenario: scenario.name,
      executions: finished,
      requests: {
        total: requests.total,
        ok: requests.ok,
        failed: requests.failed,
        byStatus: requests.byStatus,
        failures: requests.failures,
      },
      requestsByNode: requests.byNode,
      ...timeline.report(detectionFloorSeconds, scenario.timeScale, load.records),
      availability: requests.total === 0 ? 1 : requests.ok / requests.total,
      minHealthyCapacityPercent: Math.round((minServing / baseline) * 100),
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
  step: { start: string; input: Record<string, unknown> },
  context: {
    stackFor: (workflow: string) => SynthesizedStack;
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
  const { runLocally, definitionOf, stateMachineLogicalId } = await import('../test/harness/local-sfn');
  const workflow = step.start;
  const stateMachine = STATE_MACHINE_IDS[workflow];
  const stack = context.stackFor(workflow);
  const waits = new Set(
    Object.entries(definitionOf(stack, stateMachineLogicalId(stack, stateMachine)).States)
      .filter(([, state]) => state.Type === 'Wait')
      .map(([name]) => name),
  );
  const states: { name: string; at: number }[] = [];
  let waitingMs = 0;
  let waitEnteredAt = 0;
  const startedAt = new Date();
  const result = await runLocally({
    stack,
    stateMachine,
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
  const app = new App({ outdir, context: { 'aws:cdk:enable-path-metadata': true, 'aws:cdk:bundling-stacks': [] } });
  buildApp(app, [{ ...testClusterModel(), name: clusterName }]);
  app.synth();
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
    health: HealthChecker;
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
      if (target) parts.health.forcedUnhealthy.add(target);
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
  health: HealthChecker,
  nodePort: number,
  lockTableName: string | undefined,
  databaseFile: string,
): Promise<SandboxReport['finalState']> {
  const { readLock } = await import('../functions/lib/lock');
  const { dynamodbClient } = await import('../functions/lib/clients/dynamodb');
  const { findSurgeNodes } = await import('../functions/lib/nodes');
  const { ec2Client } = await import('../functions/lib/clients/ec2');
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
        healthy: health.stateOf({ id: node.instanceId, port: nodePort }).state === 'healthy',
      };
    }),
  );
  const schemaVersion = (JSON.parse(fs.readFileSync(databaseFile, 'utf8')) as { schemaVersion?: string }).schemaVersion;
  const lock = lockTableName
    ? await readLock({ dynamodb: dynamodbClient, tableName: lockTableName }, model.name).catch(() => undefined)
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

async function sleepUntil(time: number, signal?: AbortSignal): Promise<void> {
  while (Date.now() < time) {
    if (signal?.aborted) throw new Error('The sandbox run was interrupted');
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, time - Date.now())));
  }
}

/**
 * When a killed node died, when its alarm fired, when the load balancer stopped sending it traffic (read from the
 * data plane's own weights), and when failover restored redundancy. Reported in scenario seconds, the time AWS would
 * take: real time divided by the time scale.
 */
class FailoverTimeline {
  lastDeathAt: number | undefined;
  lostTargetGroup: string | undefined;
  private diedAt: number | undefined;
  private detectedAt: number | undefined;
  private trafficRestoredAt: number | undefined;
  private redundancyRestoredAt: number | undefined;

  constructor(private readonly loadStarted: number) {}

  died(at: number, servingTargetGroup: string | undefined): void {
    this.lastDeathAt = at;
    if (this.diedAt !== undefined) return;
    this.diedAt = at;
    this.lostTargetGroup = servingTargetGroup;
    // A node that carried no traffic leaves nothing to restore.
    if (!servingTargetGroup) this.trafficRestoredAt = at;
  }

  detected(at: number): void {
    this.detectedAt ??= at;
  }

  trafficRestored(at: number): void {
    if (this.diedAt !== undefined) this.trafficRestoredAt ??= at;
    this.lostTargetGroup = undefined;
  }

  redundancyRestored(at: number): void {
    this.redundancyRestoredAt ??= at;
  }

  report(
    detectionFloorSeconds: number,
    timeScale: number,
    records: readonly RequestRecord[],
  ): { failover?: SandboxReport['failover'] } {
    if (this.diedAt === undefined) return {};
    const seconds = (at: number | undefined) =>
      at === undefined ? null : Math.round(((at - this.loadStarted) / 1000 / timeScale) * 100) / 100;
    const diedAt = seconds(this.diedAt) ?? 0;
    const trafficRestoredAt = seconds(this.trafficRestoredAt);
    const detectedAt = seconds(this.detectedAt);
    const diedAtMs = this.diedAt;
    const windowEnd = this.trafficRestoredAt ?? Number.POSITIVE_INFINITY;
    const failed = records.filter((record) => record.status < 200 || record.status >= 500);
    // A request belongs to the window if it ended after the death and was sent before the traffic moved.
    const outside = failed.filter((record) => {
      const sent = this.loadStarted + record.at;
      return sent + record.latencyMs < diedAtMs || sent > windowEnd;
    });
    return {
      failover: {
        diedAt,
        detectedAt,
        trafficRestoredAt,
        redundancyRestoredAt: seconds(this.redundancyRestoredAt),
        detectionFloorSeconds,
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
