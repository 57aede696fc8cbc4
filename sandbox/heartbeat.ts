import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { HEARTBEAT_METRIC, HEARTBEAT_NAMESPACE } from '../cdk/constructs/node-alarms';
import type { ClusterModel } from '../functions/domain/cluster-model';
import { nodeConfigOf, nodeFile } from '../kits/node/node-kit';
import type { Fleet } from './fleet';

/**
 * The node kit's heartbeat, run for real: every node runs the kit's `zerodown-heartbeat` script on its timer, as
 * systemd runs it on EC2. The script reads the node's tags from the instance metadata the gateway serves, checks
 * the node's own health, and publishes the beat with the AWS CLI (the sandbox's stand-in in sandbox/bin) through the
 * gateway to moto. The gateway hands each beat to the `BeatLog`, on which the alarm evaluator judges the periods.
 */

const HEARTBEAT_SCRIPT = nodeFile('zerodown-heartbeat');
/** Where `aws` is found: the sandbox's stand-in for the AWS CLI. */
const SHIM_DIR = path.join(__dirname, 'bin');
/**
 * The script's own timeout for each request, in real seconds as on a node. A slow beat is stamped with its start,
 * so it counts for its period however late it arrives; only a node that does not answer misses one.
 */
const CHECK_TIMEOUT_SECONDS = 4;
/** How long a period's verdict waits for the beats started in it to finish: past every request's timeout. */
const SETTLE_LIMIT_MS = 4 * CHECK_TIMEOUT_SECONDS * 1000 + 2_000;
/** Tags change only when a workflow writes them; one read serves the beats of a short while. */
const TAG_CACHE_MS = 500;

/** The beats that reached CloudWatch, by slot, at the time each was stamped with. */
export class BeatLog {
  private readonly beats = new Map<string, number[]>();
  private readonly running = new Set<{ readonly startedAt: number; readonly done: Promise<void> }>();

  /** From the gateway: a PutMetricData call. Only the cluster's heartbeats count. */
  recordPut(form: URLSearchParams, clusterName: string): void {
    const member = 'MetricData.member.1';
    if (form.get('Namespace') !== HEARTBEAT_NAMESPACE || form.get(`${member}.MetricName`) !== HEARTBEAT_METRIC) return;
    const dimensions = new Map<string, string>();
    for (let index = 1; form.has(`${member}.Dimensions.member.${index}.Name`); index++) {
      dimensions.set(
        form.get(`${member}.Dimensions.member.${index}.Name`) ?? '',
        form.get(`${member}.Dimensions.member.${index}.Value`) ?? '',
      );
    }
    const slot = dimensions.get('Slot');
    if (dimensions.get('Cluster') !== clusterName || !slot) return;
    const stamped = Date.parse(form.get(`${member}.Timestamp`) ?? '');
    const list = this.beats.get(slot) ?? [];
    list.push(Number.isNaN(stamped) ? Date.now() : stamped);
    this.beats.set(slot, list.slice(-50));
  }

  /** Whether a beat for the slot was stamped in [from, to). */
  received(slot: string, from: number, to: number): boolean {
    return (this.beats.get(slot) ?? []).some((at) => at >= from && at < to);
  }

  /** Resolves once every beat started before `until` has finished (sent or failed), or after a bounded wait. */
  async settle(until: number): Promise<void> {
    const pending = [...this.running].filter((beat) => beat.startedAt < until).map((beat) => beat.done);
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SETTLE_LIMIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  track(startedAt: number, done: Promise<void>): void {
    const beat = { startedAt, done };
    this.running.add(beat);
    void done.finally(() => this.running.delete(beat));
  }
}

export interface HeartbeatOptions {
  readonly fleet: Fleet;
  readonly log: BeatLog;
  /** The model as the nodes were configured with it: cluster, region and health checks. */
  readonly model: ClusterModel;
  readonly workDir: string;
  /** The gateway: the AWS endpoint and the instance metadata service. */
  readonly endpoint: string;
  /** Nodes whose publisher was stopped (a `stop-heartbeat` fault). */
  readonly silenced: ReadonlySet<string>;
  readonly onFailure?: (instanceId: string, output: string) => void;
}

/**
 * The nodes' heartbeat timers. Each call of `beat` is one tick of every node's systemd timer: each running node that
 * is not still busy with its last beat starts one.
 */
export function heartbeatPublishers(options: HeartbeatOptions): { beat: () => void; stop: () => void } {
  const beating = new Map<string, ChildProcess>();
  const configDir = path.join(options.workDir, 'heartbeat');
  fs.mkdirSync(configDir, { recursive: true });
  let stopped = false;
  const beatAll = () => {
    for (const node of options.fleet.nodes.values()) {
      if (beating.has(node.instanceId) || options.silenced.has(node.instanceId)) continue;
      const config = path.join(configDir, `${node.instanceId}.env`);
      if (!fs.existsSync(config)) fs.writeFileSync(config, nodeConfigOf(options.model, node.ip));
      const startedAt = Date.now();
      const child = spawn('/bin/sh', [HEARTBEAT_SCRIPT], {
        env: {
          ...process.env,
          PATH: `${SHIM_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
          ZERODOWN_NODE_CONFIG: config,
          ZERODOWN_IMDS_URL: `${options.endpoint}/_imds/${node.instanceId}`,
          ZERODOWN_CHECK_TIMEOUT: String(CHECK_TIMEOUT_SECONDS),
          AWS_ENDPOINT_URL: options.endpoint,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      beating.set(node.instanceId, child);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-2_000);
      });
      const done = new Promise<void>((resolve) => {
        child.on('close', (code) => {
          beating.delete(node.instanceId);
          // A beat that stop() killed did not fail: it was cut short on purpose.
          if (code !== 0 && !stopped) options.onFailure?.(node.instanceId, stderr.trim());
          resolve();
        });
        child.on('error', () => resolve());
      });
      options.log.track(startedAt, done);
    }
  };
  return {
    beat: () => {
      if (!stopped) beatAll();
    },
    stop: () => {
      stopped = true;
      for (const child of beating.values()) child.kill('SIGKILL');
    },
  };
}

/** The tags of an instance in either region, read from moto, for the instance metadata the gateway serves. */
export function instanceTagReader(ec2: readonly EC2Client[]) {
  const cache = new Map<string, { at: number; tags: Promise<Record<string, string> | undefined> }>();
  const read = async (instanceId: string) => {
    for (const client of ec2) {
      const answer = await client.send(
        new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [instanceId] }] }),
      );
      if (answer.Tags && answer.Tags.length > 0) {
        return Object.fromEntries(answer.Tags.map((tag) => [tag.Key ?? '', tag.Value ?? '']));
      }
    }
    return undefined;
  };
  return (instanceId: string): Promise<Record<string, string> | undefined> => {
    const cached = cache.get(instanceId);
    if (cached && Date.now() - cached.at < TAG_CACHE_MS) return cached.tags;
    const tags = read(instanceId).catch(() => undefined);
    cache.set(instanceId, { at: Date.now(), tags });
    return tags;
  };
}
