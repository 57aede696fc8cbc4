import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterModel } from '../functions/domain/cluster-model';
import { nodeConfigOf, nodeFile, PEER_WATCH_TIMING } from '../kits/node/node-kit';
import type { Fleet } from './fleet';

/**
 * The node kit's peer watch, run for real: every booted node runs the kit's `zerodown-peer-watch` for as long as it
 * runs, as systemd keeps it running on EC2. The script reads the node's id and address from the instance metadata
 * the gateway serves, lists its peers with `aws ec2 describe-instances` and starts failover with `aws stepfunctions
 * start-execution` (the sandbox's stand-in CLI in sandbox/bin, through the gateway), and probes its peers from its
 * own address, so a `partition` between nodes is seen as it would be.
 */

const PEER_WATCH_SCRIPT = nodeFile('zerodown-peer-watch');
const SHIM_DIR = path.join(__dirname, 'bin');
/** How often the fleet is looked at for nodes that came up or went away. */
const FOLLOW_INTERVAL_MS = 200;
/** The fastest the sandbox runs the kit's timing, in real seconds. */
const MIN_INTERVAL_SECONDS = 0.25;
const MIN_RETRY_SECONDS = 0.1;
const MIN_REFRESH_SECONDS = 5;
const MIN_SETTLE_SECONDS = 1;

export interface PeerWatchOptions {
  readonly fleet: Fleet;
  readonly model: ClusterModel;
  readonly workDir: string;
  /** The gateway: the AWS endpoint and the instance metadata service. */
  readonly endpoint: string;
  /** The failover state machine as the sandbox's Step Functions API names it. */
  readonly failoverStateMachineArn: string;
  readonly scaled: (scenarioSeconds: number) => number;
  readonly log: (line: string) => void;
}

export interface PeerWatch {
  /** The node's watch is gone (its machine died, or a `stop-peer-watch` fault): it is not started again. */
  stopOn(instanceId: string): void;
  stop(): void;
}

export function startPeerWatch(options: PeerWatchOptions): PeerWatch {
  const watching = new Map<string, ChildProcess>();
  const gone = new Set<string>();
  const configDir = path.join(options.workDir, 'peer-watch');
  fs.mkdirSync(configDir, { recursive: true });
  // The kit's timing, in scenario seconds, run `timeScale` times as fast, but never faster than a busy machine can
  // afford: each probe is a curl process, and each read of the peers a Node.js process. At the small time scales of
  // the rollout scenarios, which do not measure detection, the watch is then slower in scenario seconds.
  const realSeconds = (scenarioSeconds: number, floor: number) =>
    Math.max(floor, options.scaled(scenarioSeconds) / 1000);
  const timing = {
    intervalSeconds: realSeconds(PEER_WATCH_TIMING.intervalSeconds, MIN_INTERVAL_SECONDS),
    retrySeconds: realSeconds(PEER_WATCH_TIMING.retrySeconds, MIN_RETRY_SECONDS),
    failures: PEER_WATCH_TIMING.failures,
    // `date +%s` counts whole seconds.
    refreshSeconds: Math.round(realSeconds(PEER_WATCH_TIMING.refreshSeconds, MIN_REFRESH_SECONDS)),
    rereportSeconds: Math.round(realSeconds(PEER_WATCH_TIMING.rereportSeconds, MIN_REFRESH_SECONDS)),
    settleSeconds: Math.round(realSeconds(PEER_WATCH_TIMING.settleSeconds, MIN_SETTLE_SECONDS)),
  };

  const start = (instanceId: string, ip: string) => {
    const config = path.join(configDir, `${instanceId}.env`);
    fs.writeFileSync(
      config,
      nodeConfigOf(options.model, ip, { failoverStateMachineArn: options.failoverStateMachineArn, peerWatch: timing }),
    );
    const child = spawn('/bin/sh', [PEER_WATCH_SCRIPT], {
      env: {
        ...process.env,
        PATH: `${SHIM_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
        ZERODOWN_NODE_CONFIG: config,
        ZERODOWN_IMDS_URL: `${options.endpoint}/_imds/${instanceId}`,
        AWS_ENDPOINT_URL: options.endpoint,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group, so that stopping it takes its per-peer watchers and their probes along.
      detached: true,
    });
    watching.set(instanceId, child);
    let pending = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.log(`${instanceId}: ${line.trim()}`);
    });
    child.on('close', () => {
      if (watching.get(instanceId) === child) watching.delete(instanceId);
    });
  };

  const kill = (instanceId: string) => {
    const child = watching.get(instanceId);
    watching.delete(instanceId);
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };

  const follow = () => {
    for (const node of options.fleet.nodes.values()) {
      if (!watching.has(node.instanceId) && !gone.has(node.instanceId) && options.fleet.isBooted(node.instanceId)) {
        start(node.instanceId, node.ip);
      }
    }
    for (const instanceId of watching.keys()) {
      if (!options.fleet.nodes.has(instanceId)) kill(instanceId);
    }
  };
  follow();
  const timer = setInterval(follow, FOLLOW_INTERVAL_MS);
  return {
    stopOn: (instanceId) => {
      gone.add(instanceId);
      kill(instanceId);
    },
    stop: () => {
      clearInterval(timer);
      for (const instanceId of [...watching.keys()]) kill(instanceId);
    },
  };
}
