import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';

/**
 * One listening period of the node, between a boot and the next restart or shutdown: its HTTP server, the boot id
 * callers tell restarts apart by, and the drain that ends it without resetting a keep-alive client.
 */

/** One listening period of the node, between a boot and the next restart or shutdown. */
export interface Listener {
  readonly server: http.Server;
  readonly bootId: string;
  readonly version: string;
  readonly trafficBody: string;
  draining: boolean;
  readonly closed: Promise<void>;
}

const DRAIN_IDLE_MS = 250;

/** A listener for node `id` on `version`, with a server that does not listen yet. */
export function createListener(id: string, version: string): Listener {
  const server = http.createServer();
  const listener: Listener = {
    server,
    bootId: randomUUID(),
    version,
    trafficBody: `${id} ${version} ok`,
    draining: false,
    closed: new Promise((resolve) => server.once('close', () => resolve())),
  };
  // Longer than a load balancer keeps an idle connection (60 s on an ALB), so the balancer, not the node, closes
  // it: a node closing first races the balancer's next request on that connection and turns it into a 502.
  server.keepAliveTimeout = 65_000;
  return listener;
}

/**
 * Stops accepting connections at once, so the port really goes down. Connections already open are not cut on the
 * spot: a keep-alive client may be sending its next request at that very moment and would see a reset. For a short
 * window such a request is still answered, with `connection: close`; then idle connections close, and busy ones
 * right after their response (see `Router.handle` in routes.ts).
 */
export function drain(listener: Listener): void {
  if (listener.draining) return;
  listener.draining = true;
  // net.Server's close stops the listener without http.Server's immediate closing of idle connections.
  net.Server.prototype.close.call(listener.server);
  setTimeout(() => listener.server.close(), DRAIN_IDLE_MS).unref();
}
