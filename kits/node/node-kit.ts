import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { HEARTBEAT_NAMESPACE } from '../../cdk/constructs/node-alarms';
import { acknowledgeWildcardResource } from '../../cdk/nag';
import { PROJECT_ROOT } from '../../cdk/paths';
import type { ClusterModel } from '../../functions/domain/cluster-model';
import { CLUSTER_TAG_KEY, ROLE_TAG_KEY, SLOT_TAG_KEY } from '../../functions/domain/tags';
import { isWeighted } from '../../functions/domain/weights';
import { stateMachineNameOf } from '../../functions/domain/workflows';
import { kitDocumentContent, kitDocumentName, kitKindsOf, type NodeKitKind } from './documents';

/** The files the kit installs on a node, by their path there. */
// From the project root rather than this file: the built library runs from dist/, and the files stay here.
const FILES_DIR = path.join(PROJECT_ROOT, 'kits', 'node', 'files');
export const NODE_FILES = {
  '/usr/local/bin/zerodown-heartbeat': 'zerodown-heartbeat',
  '/etc/systemd/system/zerodown-heartbeat.service': 'zerodown-heartbeat.service',
  '/etc/systemd/system/zerodown-heartbeat.timer': 'zerodown-heartbeat.timer',
  '/usr/local/bin/zerodown-peer-watch': 'zerodown-peer-watch',
  '/etc/systemd/system/zerodown-peer-watch.service': 'zerodown-peer-watch.service',
} as const;
export const NODE_CONFIG_PATH = '/etc/zerodown/node.env';
/** How often zerodown-heartbeat.timer beats: the default heartbeat alarm's period. */
export const HEARTBEAT_PERIOD_SECONDS = 10;
/** The peer watch's timing, in seconds: see kits/node/files/zerodown-peer-watch. */
export interface PeerWatchTiming {
  /** Between two probes of a peer. */
  readonly intervalSeconds: number;
  /** Between the retries of a probe that failed (a timed-out probe is not retried). */
  readonly retrySeconds: number;
  /** Consecutive failures that make a peer lost. */
  readonly failures: number;
  /** Between two reads of the peer list. */
  readonly refreshSeconds: number;
  /**
   * The back-off of a peer's reports, whether it stays lost or is lost again: no report before this long after the
   * last one, doubled after each report, up to 15 minutes.
   */
  readonly rereportSeconds: number;
  /** How long a lost peer must answer without a failure before its loss is over. */
  readonly settleSeconds: number;
}

/**
 * A hung peer is seen one probe timeout after the first probe that finds it hung, so the interval adds to the
 * detection of a hang at most once, and two small GETs a second cost a node nothing. Three failures 0.2 s apart let
 * a refused connection from a restarting listener pass, and still make a dead process lost within a second (a
 * powered-off instance sends no reset: its probe waits out the check's timeout). Ten seconds of answers end a loss:
 * a peer that fails most of its probes stays one loss, reported on the back-off, not at every failure.
 */
export const PEER_WATCH_TIMING: PeerWatchTiming = {
  intervalSeconds: 0.5,
  retrySeconds: 0.2,
  failures: 3,
  refreshSeconds: 30,
  rereportSeconds: 60,
  settleSeconds: 10,
};

export function nodeFile(name: (typeof NODE_FILES)[keyof typeof NODE_FILES]): string {
  return path.join(FILES_DIR, name);
}

export interface NodeKitProps {
  /** The validated model: the cluster's name, region, health checks and the commands that use the kit. */
  readonly model: ClusterModel;
  /** Buckets the nodes may read artifacts from (the deploy document fetches `s3://` artifacts). @default none */
  readonly artifactBuckets?: readonly string[];
}

/**
 * What runs on the nodes: the SSM documents of the commands that use the kit, the node policy (heartbeat, SSM
 * agent, artifact reads), and what a node's user data needs to install the heartbeat publisher.
 */
export class NodeKit extends Construct {
  /** The kit's documents, by command kind. */
  public readonly documents: Readonly<Partial<Record<NodeKitKind, ssm.CfnDocument>>>;
  /** Attach to the nodes' instance role. */
  public readonly nodePolicy: iam.ManagedPolicy;
  /**
   * The cluster's failover state machine, which the peer watch on every node may start: for the node config.
   * Undefined for a single target group, where the ALB itself routes around an unhealthy node and nothing fails over.
   */
  public readonly failoverStateMachineArn: string | undefined;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: NodeKitProps,
  ) {
    super(scope, id);
    const { model } = props;
    const documents: Partial<Record<NodeKitKind, ssm.CfnDocument>> = {};
    for (const kind of kitKindsOf(model)) {
      documents[kind] = new ssm.CfnDocument(this, `${kind[0]?.toUpperCase()}${kind.slice(1)}Document`, {
        name: kitDocumentName(model.name, kind),
        documentType: 'Command',
        documentFormat: 'JSON',
        content: kitDocumentContent(kind),
        // The name carries the content's hash: new content is a new document, and the old one goes once nothing
        // names it.
        updateMethod: 'Replace',
      });
    }
    this.documents = documents;
    // Built from the name rather than taken from the state machine, so the nodes' launch template (whose user data
    // carries it) never depends on the workflows, which read the model that names the launch template.
    this.failoverStateMachineArn = isWeighted(model)
      ? Stack.of(this).formatArn({
          service: 'states',
          resource: 'stateMachine',
          resourceName: stateMachineNameOf(model.name, 'failover'),
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        })
      : undefined;
    this.nodePolicy = this.createNodePolicy();
  }

  private createNodePolicy(): iam.ManagedPolicy {
    const { model } = this.props;
    const stack = Stack.of(this);
    const anyInstance = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
    const policy = new iam.ManagedPolicy(this, 'NodePolicy', {
      description: `zerodown ${model.name} nodes: heartbeat, peer watch, SSM agent, artifact reads`,
    });
    // PutMetricData has no resource type; the namespace condition keeps a node to its heartbeat.
    policy.addStatements(
      new iam.PolicyStatement({
        sid: 'Heartbeat',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': HEARTBEAT_NAMESPACE } },
      }),
      // The agent registers the instance it runs on, which must be one of this cluster's.
      new iam.PolicyStatement({
        sid: 'SsmAgentRegistration',
        actions: ['ssm:UpdateInstanceInformation', 'ssm:ListInstanceAssociations'],
        resources: [anyInstance],
        conditions: { StringEquals: { [`aws:ResourceTag/${CLUSTER_TAG_KEY}`]: model.name } },
      }),
      // The agent's message channels, through which Run Command reaches it, take no resource.
      new iam.PolicyStatement({
        sid: 'SsmAgentMessages',
        actions: [
          'ec2messages:AcknowledgeMessage',
          'ec2messages:DeleteMessage',
          'ec2messages:FailMessage',
          'ec2messages:GetEndpoint',
          'ec2messages:GetMessages',
          'ec2messages:SendReply',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    if (this.failoverStateMachineArn) {
      policy.addStatements(
        // The peer watch lists the cluster's nodes to probe; DescribeInstances has no resource type to narrow it to.
        new iam.PolicyStatement({ sid: 'PeerWatchList', actions: ['ec2:DescribeInstances'], resources: ['*'] }),
        // A node that sees a peer lost starts this cluster's failover, and nothing else: the failover confirms the
        // loss itself before it moves anything.
        new iam.PolicyStatement({
          sid: 'PeerWatchFailover',
          actions: ['states:StartExecution'],
          resources: [this.failoverStateMachineArn],
        }),
      );
    }
    for (const bucket of this.props.artifactBuckets ?? []) {
      const objects = `arn:${stack.partition}:s3:::${bucket}/*`;
      policy.addStatements(
        new iam.PolicyStatement({
          sid: `ReadArtifacts${policy.document.statementCount}`,
          actions: ['s3:GetObject'],
          resources: [objects],
        }),
      );
      acknowledgeWildcardResource(
        policy,
        objects,
        'The deploy document fetches whatever artifact the operator names, from this bucket only.',
      );
    }
    acknowledgeWildcardResource(
      policy,
      '*',
      'PutMetricData has no resource type (the namespace condition limits it to the heartbeat), DescribeInstances ' +
        "(the peer watch's list of its peers, read only) has none either, and the SSM agent message channels take no " +
        'resource.',
    );
    acknowledgeWildcardResource(
      policy,
      anyInstance,
      "The SSM agent registers its own instance, limited by the condition to the cluster's tagged instances.",
    );
    return policy;
  }
}

/**
 * The node's configuration for the heartbeat and the peer watch: the cluster, the region, and the model's health
 * checks, against the node itself (`ZERODOWN_HEALTH_CHECKS`) and against a peer (`ZERODOWN_PEER_CHECKS`, `@PEER@`
 * standing for the peer's address, with each check's timeout). Checks that look for the rolled-out version are left
 * out: a node beats, and is watched, whatever version it runs. Without `failoverStateMachineArn` the peer watch has
 * nothing to start and is not installed.
 */
export function nodeConfigOf(
  model: ClusterModel,
  host = '127.0.0.1',
  options: { failoverStateMachineArn?: string | undefined; peerWatch?: PeerWatchTiming } = {},
): string {
  const checks = model.healthChecks.http.filter((check) => !check.expectVersion);
  const own = checks.map((check) => `${check.protocol}://${host}:${check.port}${check.path}|${check.expectedStatus}`);
  const peer = checks.map(
    (check) =>
      `${check.protocol}://@PEER@:${check.port}${check.path}|${check.expectedStatus}|${check.timeoutMs / 1000}`,
  );
  return [
    `ZERODOWN_CLUSTER=${model.name}`,
    `ZERODOWN_REGION=${model.region}`,
    `ZERODOWN_HEALTH_CHECKS="${own.join(' ')}"`,
    ...(options.failoverStateMachineArn
      ? [
          `ZERODOWN_PEER_CHECKS="${peer.join(' ')}"`,
          `ZERODOWN_FAILOVER_ARN=${options.failoverStateMachineArn}`,
          ...peerWatchSettings(options.peerWatch ?? PEER_WATCH_TIMING),
        ]
      : []),
    '',
  ].join('\n');
}

function peerWatchSettings(timing: PeerWatchTiming): string[] {
  return [
    `ZERODOWN_PEER_INTERVAL=${timing.intervalSeconds}`,
    `ZERODOWN_PEER_RETRY_INTERVAL=${timing.retrySeconds}`,
    `ZERODOWN_PEER_FAILURES=${timing.failures}`,
    `ZERODOWN_PEER_REFRESH=${timing.refreshSeconds}`,
    `ZERODOWN_PEER_REREPORT=${timing.rereportSeconds}`,
    `ZERODOWN_PEER_SETTLE=${timing.settleSeconds}`,
  ];
}

/** The tags zerodown reads on a permanent node. Surge and replacement nodes get theirs from the workflows. */
export function nodeTags(
  clusterName: string,
  node: { role: string; slot?: string | undefined },
): Record<string, string> {
  return {
    [CLUSTER_TAG_KEY]: clusterName,
    [ROLE_TAG_KEY]: node.role,
    ...(node.slot === undefined ? {} : { [SLOT_TAG_KEY]: node.slot }),
  };
}

/**
 * Shell lines that write each file in place with its mode: a quoted here-document, so nothing in the content is
 * expanded. Programs go to /usr/local/bin as executables.
 */
export function fileInstallLines(files: readonly { target: string; content: string; mode?: string }[]): string[] {
  const marker = 'ZERODOWN_END_OF_FILE';
  return files.flatMap(({ target, content, mode }) => {
    if (content.split('\n').includes(marker)) throw new Error(`${target} contains the line ${marker}`);
    const chmod = mode ?? (target.startsWith('/usr/local/bin/') ? '0755' : '0644');
    return [`cat > ${target} <<'${marker}'`, content.replace(/\n$/, ''), marker, `chmod ${chmod} ${target}`];
  });
}

/**
 * Shell lines for user data that install the heartbeat publisher and start its timer, and, given the cluster's
 * failover state machine (`NodeKit.failoverStateMachineArn`), the peer watch.
 */
export function heartbeatInstallCommands(
  model: ClusterModel,
  options: { failoverStateMachineArn?: string | undefined } = {},
): string[] {
  const peerWatch = options.failoverStateMachineArn !== undefined;
  return [
    'set -eu',
    `install -d -m 0755 ${path.dirname(NODE_CONFIG_PATH)}`,
    ...fileInstallLines([
      ...Object.entries(NODE_FILES)
        .filter(([, name]) => peerWatch || !name.startsWith('zerodown-peer-watch'))
        .map(([target, name]) => ({ target, content: fs.readFileSync(nodeFile(name), 'utf8') })),
      { target: NODE_CONFIG_PATH, content: nodeConfigOf(model, '127.0.0.1', options) },
    ]),
    'systemctl daemon-reload',
    'systemctl enable --now zerodown-heartbeat.timer',
    ...(peerWatch ? ['systemctl enable --now zerodown-peer-watch.service'] : []),
  ];
}
