import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { PROJECT_ROOT } from '../cdk/paths';
import { clientConfig } from '../functions/aws/clients/config';

/**
 * Where the CLI's AWS calls go: the standard credential and region chain, or a sandbox. `--endpoint` (or
 * ZERODOWN_ENDPOINT) names a sandbox's endpoint; without one, a sandbox that `zerodown sandbox up` keeps running
 * serves the cluster it runs, and AWS serves every other cluster.
 */

export interface SessionOptions {
  readonly endpoint?: string;
  readonly region?: string;
}

export interface Session {
  /** Where the calls go: `AWS` or the sandbox's endpoint, for messages. */
  readonly target: string;
  readonly sfn: SFNClient;
  readonly ssm: SSMClient;
  readonly ec2: EC2Client;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly cloudwatch: CloudWatchClient;
  readonly dynamodb: DynamoDBClient;
}

/** What `zerodown sandbox up` leaves for the CLI to find it: its endpoint, the cluster it runs, and its process. */
export interface SandboxHandle {
  readonly endpoint: string;
  readonly cluster: string;
  readonly region: string;
  readonly pid: number;
}

export const SANDBOX_HANDLE_FILE = path.join(PROJECT_ROOT, '.cache', 'sandbox', 'up.json');

/** The sandbox `zerodown sandbox up` keeps running, if its process still runs. */
export function runningSandbox(file = SANDBOX_HANDLE_FILE): SandboxHandle | undefined {
  let handle: SandboxHandle;
  try {
    handle = JSON.parse(fs.readFileSync(file, 'utf8')) as SandboxHandle;
  } catch {
    return undefined;
  }
  try {
    process.kill(handle.pid, 0);
    return handle;
  } catch {
    return undefined;
  }
}

/** The sandbox signs nothing it checks, but the SDK must sign: loopback endpoints get the sandbox's own keys. */
const SANDBOX_CREDENTIALS = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox', sessionToken: 'sandbox' };

function isLoopback(endpoint: string): boolean {
  try {
    return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

export function openSession(options: SessionOptions, cluster?: string): Session {
  const sandbox = options.endpoint ? undefined : runningSandbox();
  const endpoint =
    options.endpoint ??
    process.env.ZERODOWN_ENDPOINT ??
    (sandbox && (cluster === undefined || cluster === sandbox.cluster) ? sandbox.endpoint : undefined);
  const region = options.region ?? (endpoint && sandbox?.endpoint === endpoint ? sandbox.region : undefined);
  const useSandboxKeys =
    endpoint !== undefined && isLoopback(endpoint) && !process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE;
  const config = {
    ...clientConfig(region ?? (endpoint ? (process.env.AWS_REGION ?? 'us-east-1') : undefined)),
    ...(endpoint ? { endpoint } : {}),
    ...(useSandboxKeys ? { credentials: SANDBOX_CREDENTIALS } : {}),
  };
  return {
    target: endpoint ?? 'AWS',
    sfn: new SFNClient(config),
    ssm: new SSMClient(config),
    ec2: new EC2Client(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    cloudwatch: new CloudWatchClient(config),
    dynamodb: new DynamoDBClient(config),
  };
}
