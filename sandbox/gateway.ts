import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The sandbox's AWS endpoint: a proxy in front of moto_server that forwards every call, except the few for which
 * moto has no data plane. Those go to the sandbox's own parts: instance launch and termination start and stop node
 * processes, target health comes from the health checker, and Run Command is carried out by the agent. It also
 * serves each node's instance metadata (IMDSv2: the token and the instance's tags) under `/_imds/<instance id>`.
 */

export interface AwsCall {
  /** The signing name from the request's credential scope: `ec2`, `elasticloadbalancing`, `ssm`, ... */
  readonly service: string;
  /** `RunInstances`, `SendCommand`, ... */
  readonly operation: string;
}

/** What the gateway asks of the rest of the sandbox. Each hook sees moto's answer where there is one. */
export interface GatewayHooks {
  /** After moto has launched instances. */
  instancesLaunched(instanceIds: readonly string[]): Promise<void>;
  /** Before moto marks instances as terminating. */
  instancesTerminating(instanceIds: readonly string[]): Promise<void>;
  /** The health of each target moto lists for the group, from the health checker. */
  targetHealth(
    targetGroupArn: string,
    targets: readonly { id: string; port: number }[],
  ): Promise<{ id: string; port: number; state: string; reason?: string; description?: string }[]>;
  /**
   * After moto changed a listener's actions (its weights): the load balancer reads them before the caller hears back,
   * which starts the change's propagation delay (the scenario's `loadBalancer.propagationSeconds`), and with no delay
   * applies them at once. A workflow that moved traffic off a node waits its drain time before touching the node,
   * which covers the delay.
   */
  listenerModified(listenerArn: string): Promise<void>;
  /** After moto deregistered targets: the health checker lets them drain. */
  targetsDeregistered(targetGroupArn: string, targets: readonly { id: string; port: number }[]): void;
  /** After moto recorded a command: the agent runs it on each instance. */
  commandSent(commandId: string, request: SendCommandRequest): void;
  /** The agent's answer to an SSM read, or undefined to let moto answer. */
  ssmRead(operation: string, request: Record<string, unknown>): Record<string, unknown> | undefined;
  /** After moto stored metric data: the heartbeats the node alarms are judged on. */
  metricDataPut(form: URLSearchParams): void;
  /** An instance's tags, as its instance metadata service shows them; undefined for an unknown instance. */
  instanceTags(instanceId: string): Promise<Readonly<Record<string, string>> | undefined>;
  /** An instance's private address (its `local-ipv4`); undefined for an instance that is not running. */
  instanceAddress(instanceId: string): string | undefined;
  /**
   * A Step Functions call, answered from the sandbox's own executions; undefined until the sandbox serves the API
   * (moto then answers, knowing none of them).
   */
  stepFunctions(operation: string, request: Record<string, unknown>): Record<string, unknown> | undefined;
}

export interface SendCommandRequest {
  readonly InstanceIds?: string[];
  readonly DocumentName?: string;
  readonly DocumentVersion?: string;
  readonly Parameters?: Record<string, string[]>;
  readonly TimeoutSeconds?: number;
}

export interface Gateway {
  readonly endpoint: string;
  /** Every call by `service:Operation`. */
  readonly calls: Map<string, number>;
  close(): Promise<void>;
}

/** Thrown by a hook to answer the call with an AWS error of this name. */
export class AwsErrorResponse extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

const SSM_READS = new Set(['GetCommandInvocation', 'ListCommandInvocations', 'DescribeInstanceInformation']);

export async function startGateway(options: { motoEndpoint: string; hooks: GatewayHooks }): Promise<Gateway> {
  const moto = new URL(options.motoEndpoint);
  const calls = new Map<string, number>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  const forward = (
    request: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const outgoing = http.request(
        {
          host: moto.hostname,
          port: moto.port,
          method: request.method,
          path: request.url,
          headers: withoutChunking({ ...request.headers, 'content-length': String(body.length) }),
          agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 502, headers: response.headers, body: Buffer.concat(chunks) }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      handle(request, body)
        .then((answer) => {
          response.writeHead(answer.status, answer.headers);
          response.end(answer.body);
        })
        .catch((error: unknown) => {
          const failure =
            error instanceof AwsErrorResponse ? error : new AwsErrorResponse('InternalFailure', String(error), 500);
          response.writeHead(failure.statusCode, { 'content-type': 'application/x-amz-json-1.1' });
          response.end(JSON.stringify({ __type: failure.code, message: failure.message }));
        });
    });
  });

  async function handle(request: http.IncomingMessage, body: Buffer) {
    if (request.url?.startsWith(IMDS_PREFIX)) return instanceMetadata(request, options.hooks);
    const call = identify(request, body);
    const key = `${call.service}:${call.operation}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    const hooks = options.hooks;

    if (call.service === 'ec2' && call.operation === 'TerminateInstances') {
      await hooks.instancesTerminating(formList(body, 'InstanceId'));
    }
    if (call.service === 'states') {
      const answer = hooks.stepFunctions(
        call.operation,
        JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
      );
      if (answer) return json(answer, '1.0');
    }
    if (call.service === 'ssm' && SSM_READS.has(call.operation)) {
      const answer = hooks.ssmRead(
        call.operation,
        JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>,
      );
      if (answer) return json(answer);
    }

    const answer = await forward(request, body);
    if (answer.status >= 300) return answer;

    if (call.service === 'ec2' && call.operation === 'RunInstances') {
      await hooks.instancesLaunched(xmlValues(answer.body.toString('utf8'), 'instanceId'));
    } else if (call.service === 'elasticloadbalancing' && call.operation === 'DescribeTargetHealth') {
      const targetGroupArn = new URLSearchParams(body.toString('utf8')).get('TargetGroupArn') ?? '';
      return xml(describeTargetHealthXml(await hooks.targetHealth(targetGroupArn, registeredTargets(answer.body))));
    } else if (call.service === 'elasticloadbalancing' && call.operation === 'ModifyListener') {
      await hooks.listenerModified(new URLSearchParams(body.toString('utf8')).get('ListenerArn') ?? '');
    } else if (call.service === 'elasticloadbalancing' && call.operation === 'DeregisterTargets') {
      const form = new URLSearchParams(body.toString('utf8'));
      hooks.targetsDeregistered(form.get('TargetGroupArn') ?? '', formTargets(form));
    } else if (call.service === 'monitoring' && call.operation === 'PutMetricData') {
      hooks.metricDataPut(new URLSearchParams(body.toString('utf8')));
    } else if (call.service === 'ssm' && call.operation === 'SendCommand') {
      const sent = JSON.parse(answer.body.toString('utf8')) as { Command?: { CommandId?: string } };
      const commandId = sent.Command?.CommandId;
      if (commandId) hooks.commandSent(commandId, JSON.parse(body.toString('utf8')) as SendCommandRequest);
    }
    return answer;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const IMDS_PREFIX = '/_imds/';
const IMDS_TOKEN = 'sandbox-imds-token';

/**
 * IMDSv2 as a node's scripts use it: PUT for a session token, then reads that present it. The instance's id, its
 * private address and its tags are served (each tag under `meta-data/tags/instance/<key>`), with 404 for the rest.
 */
async function instanceMetadata(request: http.IncomingMessage, hooks: GatewayHooks) {
  const [instanceId = '', ...rest] = (request.url ?? '').slice(IMDS_PREFIX.length).split('?')[0]?.split('/') ?? [];
  const path = rest.join('/');
  const text = (status: number, body: string) => ({
    status,
    headers: { 'content-type': 'text/plain' } as http.OutgoingHttpHeaders,
    body: Buffer.from(body),
  });
  if (path === 'latest/api/token') return request.method === 'PUT' ? text(200, IMDS_TOKEN) : text(405, '');
  if (request.headers['x-aws-ec2-metadata-token'] !== IMDS_TOKEN) return text(401, '');
  const tags = await hooks.instanceTags(instanceId);
  if (!tags) return text(404, '');
  if (path === 'latest/meta-data/instance-id') return text(200, instanceId);
  if (path === 'latest/meta-data/local-ipv4') {
    const address = hooks.instanceAddress(instanceId);
    return address ? text(200, address) : text(404, '');
  }
  const key = /^latest\/meta-data\/tags\/instance\/(.+)$/.exec(path)?.[1];
  if (key === undefined) return text(404, '');
  const value = tags[decodeURIComponent(key)];
  return value === undefined ? text(404, '') : text(200, value);
}

/** The service comes from the SigV4 credential scope, the operation from the JSON target or the query form. */
export function identify(request: http.IncomingMessage, body: Buffer): AwsCall {
  const authorization = String(request.headers.authorization ?? '');
  const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(authorization)?.[1] ?? 'unknown';
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string') return { service, operation: target.split('.').pop() ?? target };
  const contentType = String(request.headers['content-type'] ?? '');
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return { service, operation: new URLSearchParams(body.toString('utf8')).get('Action') ?? 'unknown' };
  }
  if (service === 'route53') return { service, operation: route53Operation(request.method, request.url) };
  // The RPC v2 CBOR protocol names the operation in the path: /service/<Service>/operation/<Operation>.
  return { service, operation: /\/operation\/([^/?]+)/.exec(request.url ?? '')?.[1] ?? 'unknown' };
}

/** Route 53's REST API names the operation by method and path; these are the calls zerodown makes. */
function route53Operation(method: string | undefined, url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  if (/\/hostedzone\/[^/]+\/rrset\/?$/.test(path)) {
    return method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets';
  }
  if (/\/hostedzone\/?$/.test(path)) return method === 'POST' ? 'CreateHostedZone' : 'ListHostedZones';
  return 'unknown';
}

/** The body is forwarded whole, so a chunked transfer encoding would contradict its content length. */
function withoutChunking(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const { 'transfer-encoding': _chunked, ...rest } = headers;
  return rest;
}

function formList(body: Buffer, prefix: string): string[] {
  const form = new URLSearchParams(body.toString('utf8'));
  return [...form.entries()].filter(([key]) => key.startsWith(`${prefix}.`)).map(([, value]) => value);
}

function formTargets(form: URLSearchParams): { id: string; port: number }[] {
  const targets: { id: string; port: number }[] = [];
  for (let index = 1; form.has(`Targets.member.${index}.Id`); index++) {
    targets.push({
      id: form.get(`Targets.member.${index}.Id`) ?? '',
      port: Number(form.get(`Targets.member.${index}.Port`) ?? 0),
    });
  }
  return targets;
}

function xmlValues(text: string, tag: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((match) => match[1] ?? ''))];
}

/** The targets in moto's DescribeTargetHealth answer (moto calls every registered target healthy). */
function registeredTargets(body: Buffer): { id: string; port: number }[] {
  const text = body.toString('utf8');
  return [...text.matchAll(/<Target>\s*<Id>([^<]+)<\/Id>\s*<Port>(\d+)<\/Port>/g)].map((match) => ({
    id: match[1] ?? '',
    port: Number(match[2]),
  }));
}

const escapeXml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function describeTargetHealthXml(
  targets: readonly { id: string; port: number; state: string; reason?: string; description?: string }[],
): string {
  const members = targets
    .map(
      (target) =>
        `<member><Target><Id>${escapeXml(target.id)}</Id><Port>${target.port}</Port></Target>` +
        `<HealthCheckPort>${target.port}</HealthCheckPort><TargetHealth><State>${target.state}</State>` +
        (target.reason ? `<Reason>${escapeXml(target.reason)}</Reason>` : '') +
        (target.description ? `<Description>${escapeXml(target.description)}</Description>` : '') +
        '</TargetHealth></member>',
    )
    .join('');
  return (
    '<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">' +
    `<DescribeTargetHealthResult><TargetHealthDescriptions>${members}</TargetHealthDescriptions>` +
    '</DescribeTargetHealthResult><ResponseMetadata><RequestId>sandbox</RequestId></ResponseMetadata>' +
    '</DescribeTargetHealthResponse>'
  );
}

function json(payload: Record<string, unknown>, version: '1.0' | '1.1' = '1.1') {
  return {
    status: 200,
    headers: { 'content-type': `application/x-amz-json-${version}` } as http.OutgoingHttpHeaders,
    body: Buffer.from(JSON.stringify(payload)),
  };
}

function xml(text: string) {
  return { status: 200, headers: { 'content-type': 'text/xml' } as http.OutgoingHttpHeaders, body: Buffer.from(text) };
}
