import * as http from 'node:http';

/**
 * The HTTP side of cluster nodes, for handler tests: a small server on each node's private IP (a real loopback
 * address in the moto VPC) answering the cluster's health and version endpoints, with knobs to make it fail.
 */
export interface FakeNode {
  readonly instanceId: string;
  readonly ip: string;
  readonly port: number;
  version: string;
  healthStatus: number;
  healthBody: string;
  requests: number;
  close(): Promise<void>;
}

const open = new Set<FakeNode>();

export async function serveNode(instanceId: string, ip: string, port: number, version = '1.0.0'): Promise<FakeNode> {
  const server = http.createServer();
  const node: FakeNode = {
    instanceId,
    ip,
    port,
    version,
    healthStatus: 200,
    healthBody: 'OK',
    requests: 0,
    close: () =>
      new Promise((resolve) => {
        open.delete(node);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('request', (request, response) => {
    node.requests++;
    if (request.url === '/version') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: node.version }));
    } else if (request.url === '/health') {
      response.writeHead(node.healthStatus).end(node.healthBody);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  open.add(node);
  return node;
}

export async function closeAllFakeNodes(): Promise<void> {
  await Promise.all([...open].map((node) => node.close()));
}
