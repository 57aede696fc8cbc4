import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListResourceRecordSetsCommand, type Route53Client } from '@aws-sdk/client-route-53';

/**
 * What clients see of Route 53: each request goes to the load balancer the cluster's DNS name resolves to, as moto's
 * records say (failover routing: the PRIMARY record's target; weighted: the heaviest record's). Like a resolver, the
 * front keeps an answer for the record's TTL before it asks again, so a DNS change reaches clients only as fast as it
 * would on the internet.
 */

export interface DnsFront {
  readonly url: string;
  /** The load balancer DNS name the front sends requests to now. */
  answer(): string;
  close(): Promise<void>;
}

const normalize = (name: string | undefined) => (name ?? '').toLowerCase().replace(/\.$/, '');

export async function startDnsFront(options: {
  route53: Route53Client;
  hostedZoneId: string;
  recordName: string;
  /** Local load balancer URL by the DNS name of the load balancer it stands for. */
  loadBalancers: ReadonlyMap<string, string>;
  /** How long an answer is kept, in real milliseconds (the record's TTL, scaled). */
  ttlMs: number;
}): Promise<DnsFront> {
  const resolve = async (): Promise<string> => {
    const answer = await options.route53.send(
      new ListResourceRecordSetsCommand({ HostedZoneId: options.hostedZoneId, StartRecordName: options.recordName }),
    );
    const sets = (answer.ResourceRecordSets ?? []).filter(
      (set) => normalize(set.Name) === normalize(options.recordName) && set.AliasTarget,
    );
    const primary = sets.find((set) => set.Failover === 'PRIMARY');
    const heaviest = [...sets].sort((a, b) => (b.Weight ?? 0) - (a.Weight ?? 0))[0];
    return normalize((primary ?? heaviest)?.AliasTarget?.DNSName);
  };
  let current = await resolve();
  let resolving = true;
  let wakeUp: (() => void) | undefined;
  const loop = (async () => {
    while (resolving) {
      await new Promise<void>((wake) => {
        wakeUp = wake;
        setTimeout(wake, options.ttlMs);
      });
      if (resolving) current = await resolve().catch(() => current);
    }
  })();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 30_000 });

  const server = http.createServer((request, response) => {
    const target = options.loadBalancers.get(current);
    if (!target) {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(`the name resolves to no known load balancer\n`);
      return;
    }
    const url = new URL(request.url ?? '/', target);
    const upstream = http.request(url, { method: request.method, headers: request.headers, agent }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end();
    });
    request.pipe(upstream);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', () => listening()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answer: () => current,
    close: async () => {
      resolving = false;
      wakeUp?.();
      await loop;
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}
