import * as http from 'node:http';
import {
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { deadlineAfterPendingIo } from './deadline';

/**
 * The load balancer's health checks, done for real: each registered target is probed on an interval, and changes
 * state only after the configured number of consecutive results, as an ALB does. Deregistered targets drain for
 * the deregistration delay.
 */

export interface HealthCheckSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly deregistrationDelayMs: number;
  readonly path: string;
}

type State = 'initial' | 'healthy' | 'unhealthy';

interface TargetRecord {
  state: State;
  streak: number;
  lastResult?: boolean;
  reason?: string;
}

export interface RegisteredTarget {
  readonly id: string;
  readonly port: number;
}

export class HealthChecker {
  /**
   * Health by group and `instanceId:port`: as an ALB does, each target group checks its own targets, so a node that
   * serves in one group starts `initial` in a group it joins (a surge node adopted into a slot).
   */
  private readonly records = new Map<string, TargetRecord>();
  /** Targets moto lists per group, as of the last round. */
  private readonly registered = new Map<string, RegisteredTarget[]>();
  private readonly draining = new Map<string, { target: RegisteredTarget; until: number }[]>();
  /** Probes that are forced to fail, by instance id (the `unhealthy` fault). */
  readonly forcedUnhealthy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly agent = new http.Agent({ keepAlive: false });

  constructor(
    private readonly options: {
      /** moto's ELBv2 in the region of a target group's ARN. */
      elbv2For: (targetGroupArn: string) => ElasticLoadBalancingV2Client;
      targetGroupArns: readonly string[];
      /** The IP of an instance, or undefined when it has no running node. */
      ipOf: (instanceId: string) => string | undefined;
      settings: HealthCheckSettings;
    },
  ) {}

  start(): void {
    const tick = () => {
      this.round()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.options.settings.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.agent.destroy();
  }

  /** One round: refresh the registrations, then probe every registered target once. */
  async round(): Promise<void> {
    const groups = await Promise.all(
      this.options.targetGroupArns.map(async (arn) => {
        const answer = await this.options.elbv2For(arn).send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
        const targets = (answer.TargetHealthDescriptions ?? []).map((description) => ({
          id: description.Target?.Id ?? '',
          port: description.Target?.Port ?? 0,
        }));
        return [arn, targets] as const;
      }),
    );
    for (const [arn, targets] of groups) this.registered.set(arn, targets);
    await Promise.all(groups.flatMap(([arn, targets]) => targets.map((target) => this.probe(arn, target))));
  }

  private async probe(targetGroupArn: string, target: RegisteredTarget): Promise<void> {
    const key = recordKey(targetGroupArn, target);
    const record = this.records.get(key) ?? { state: 'initial' as State, streak: 0 };
    this.records.set(key, record);
    const ip = this.options.ipOf(target.id);
    const result = ip && !this.forcedUnhealthy.has(target.id) ? await this.check(ip, target.port) : false;
    record.streak = record.lastResult === result ? record.streak + 1 : 1;
    record.lastResult = result;
    const { healthyThreshold, unhealthyThreshold } = this.options.settings;
    if (result && record.streak >= healthyThreshold) record.state = 'healthy';
    if (!result && record.streak >= unhealthyThreshold) record.state = 'unhealthy';
    record.reason = result ? undefined : 'Target.FailedHealthChecks';
  }

  private check(ip: string, port: number): Promise<boolean> {
    const { path, timeoutMs } = this.options.settings;
    return new Promise((resolve) => {
      const settle = (healthy: boolean) => {
        cancelDeadline();
        resolve(healthy);
      };
      const request = http.get({ host: ip, port, path, agent: this.agent }, (response) => {
        response.resume();
        settle(response.statusCode === 200);
      });
      const cancelDeadline = deadlineAfterPendingIo(timeoutMs, () => {
        request.destroy();
        resolve(false);
      });
      request.on('error', () => settle(false));
    });
  }

  /**
   * The health of one target as the load balancer reports it in a group; without a group, its best state in any
   * group it is registered in (whether the node serves at all).
   */
  stateOf(target: RegisteredTarget, targetGroupArn?: string): { state: string; reason?: string } {
    const record =
      targetGroupArn === undefined ? this.bestRecordOf(target) : this.records.get(recordKey(targetGroupArn, target));
    if (!record) return { state: 'initial', reason: 'Elb.RegistrationInProgress' };
    if (record.state === 'initial') return { state: 'initial', reason: 'Elb.InitialHealthChecking' };
    return record.reason && record.state === 'unhealthy'
      ? { state: 'unhealthy', reason: record.reason }
      : { state: record.state };
  }

  /** Targets of a group with their health, the draining ones included, for DescribeTargetHealth. */
  describe(targetGroupArn: string, registered: readonly RegisteredTarget[]) {
    const now = Date.now();
    const draining = (this.draining.get(targetGroupArn) ?? []).filter((entry) => entry.until > now);
    this.draining.set(targetGroupArn, draining);
    return [
      ...registered.map((target) => ({ ...target, ...this.stateOf(target, targetGroupArn) })),
      ...draining
        .filter((entry) => !registered.some((target) => target.id === entry.target.id))
        .map((entry) => ({ ...entry.target, state: 'draining', reason: 'Target.DeregistrationInProgress' })),
    ];
  }

  deregistered(targetGroupArn: string, targets: readonly RegisteredTarget[]): void {
    const until = Date.now() + this.options.settings.deregistrationDelayMs;
    const list = this.draining.get(targetGroupArn) ?? [];
    list.push(...targets.map((target) => ({ target, until })));
    this.draining.set(targetGroupArn, list);
    const registered = this.registered.get(targetGroupArn) ?? [];
    this.registered.set(
      targetGroupArn,
      registered.filter((entry) => !targets.some((target) => target.id === entry.id)),
    );
  }

  /** Registered targets of a group that pass their health checks. */
  healthyTargets(targetGroupArn: string): RegisteredTarget[] {
    return (this.registered.get(targetGroupArn) ?? []).filter(
      (target) => this.stateOf(target, targetGroupArn).state === 'healthy',
    );
  }

  private bestRecordOf(target: RegisteredTarget): TargetRecord | undefined {
    const records = [...this.registered.keys()]
      .map((arn) => this.records.get(recordKey(arn, target)))
      .filter((record): record is TargetRecord => record !== undefined);
    return records.find((record) => record.state === 'healthy') ?? records[0];
  }

  registeredTargets(targetGroupArn: string): RegisteredTarget[] {
    return this.registered.get(targetGroupArn) ?? [];
  }
}

function recordKey(targetGroupArn: string, target: RegisteredTarget): string {
  return `${targetGroupArn}|${target.id}:${target.port}`;
}
