import type * as http from 'node:http';
import type * as net from 'node:net';
import type { ControlActions } from './control-actions';
import type { DeploymentDir } from './deployment';
import { HttpError, readJsonBody, respond, respondJson } from './http-io';
import type { Listener } from './listener';
import type { NodeSettings } from './options';
import { errorMessage, type HealthBody } from './protocol';
import type { SchemaGuard } from './schema-check';
import type { SyncSource } from './sync';
import { unrefDelay } from './timers';

/**
 * The node's HTTP API: which request goes where, which requests are refused before they get there (control from
 * another host, methods a path does not take), and how a failure becomes an answer.
 */

const MAX_TRAFFIC_DELAY_MS = 10_000;

export interface RouterParts {
  settings: NodeSettings;
  deployment: DeploymentDir;
  sync: SyncSource;
  actions: ControlActions;
  schema: SchemaGuard;
}

export class Router {
  constructor(private readonly parts: RouterParts) {}

  /** Answers one request on `listener`; on a draining listener, the connection closes once the answer is out. */
  handle(listener: Listener, request: http.IncomingMessage, response: http.ServerResponse): void {
    const socket = request.socket;
    response.once('finish', () => {
      if (listener.draining && !socket.destroyed) socket.end();
    });
    this.route(listener, request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500)
        this.parts.settings.log({ event: 'error', id: this.parts.settings.id, message: errorMessage(error) });
      if (!response.headersSent && !response.destroyed) {
        respondJson(listener, response, status, { error: errorMessage(error) });
      } else if (!response.writableEnded) {
        response.destroy();
      }
    });
  }

  private async route(listener: Listener, request: http.IncomingMessage, response: http.ServerResponse) {
    const rawUrl = request.url ?? '/';
    const queryStart = rawUrl.indexOf('?');
    const pathname = queryStart < 0 ? rawUrl : rawUrl.slice(0, queryStart);
    const method = request.method ?? 'GET';

    if (pathname.startsWith('/_control/')) return this.control(listener, pathname, request, response);
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, `${method} is not supported on ${pathname}`);
    }
    if (await this.serveSyncPath(listener, pathname, response)) return;
    // Everything past here is the product: health checks and traffic. A version that cannot run on the schema
    // serves none of it (file sync and control go on, so the node can still be upgraded).
    const schema = this.parts.schema;
    const refusal = schema.enforcing ? await schema.refusal(listener.version) : undefined;
    if (refusal !== undefined) return this.refuse(listener, pathname, refusal, response);
    if (await this.serveNodePath(listener, pathname, response)) return;

    const delayMs = queryStart < 0 ? 0 : trafficDelay(rawUrl.slice(queryStart + 1));
    if (delayMs > 0) await unrefDelay(delayMs);
    respond(listener, response, 200, 'text/plain; charset=utf-8', listener.trafficBody);
  }

  /** The manager's side of file sync; false when `pathname` is not one of its paths. */
  private async serveSyncPath(listener: Listener, pathname: string, response: http.ServerResponse): Promise<boolean> {
    if (pathname === '/_sync/manifest') {
      respondJson(listener, response, 200, await this.parts.sync.manifest());
    } else if (pathname.startsWith('/_sync/file/')) {
      const contents = await this.parts.sync.file(decodeSegment(pathname.slice('/_sync/file/'.length)));
      respond(listener, response, 200, 'application/octet-stream', contents);
    } else {
      return false;
    }
    return true;
  }

  /** The paths the node answers itself, as opposed to traffic; false when `pathname` is none of them. */
  private async serveNodePath(listener: Listener, pathname: string, response: http.ServerResponse): Promise<boolean> {
    if (pathname === '/health') {
      this.health(listener, response);
    } else if (pathname === '/version') {
      respond(listener, response, 200, 'text/plain; charset=utf-8', listener.version);
    } else if (pathname.startsWith('/services/')) {
      const record = await this.parts.deployment.readService(decodeSegment(pathname.slice('/services/'.length)));
      if (!record) throw new HttpError(404, 'service is not deployed on this node');
      respondJson(listener, response, 200, record);
    } else {
      return false;
    }
    return true;
  }

  /**
   * A product request on a version that cannot run on the schema: 503 with the reason, as JSON where the path answers
   * JSON (the health check keeps its shape, so a caller still reads the boot id and version) and as text elsewhere.
   */
  private refuse(listener: Listener, pathname: string, reason: string, response: http.ServerResponse): void {
    const { id, role } = this.parts.settings;
    if (pathname === '/health') {
      const health: HealthBody = {
        status: listener.draining ? 'draining' : 'incompatible-schema',
        id,
        version: listener.version,
        role,
        bootId: listener.bootId,
        error: reason,
      };
      respondJson(listener, response, 503, health);
    } else if (pathname.startsWith('/services/')) {
      respondJson(listener, response, 503, { error: reason });
    } else {
      respond(listener, response, 503, 'text/plain; charset=utf-8', `${id}: ${reason}\n`);
    }
  }

  private health(listener: Listener, response: http.ServerResponse): void {
    const health: HealthBody = {
      status: listener.draining ? 'draining' : 'ok',
      id: this.parts.settings.id,
      version: listener.version,
      role: this.parts.settings.role,
      bootId: listener.bootId,
    };
    respondJson(listener, response, listener.draining ? 503 : 200, health);
  }

  private async control(
    listener: Listener,
    pathname: string,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    if (!isSameHost(request.socket)) throw new HttpError(403, 'control requests are only accepted from this host');
    const actions = this.parts.actions;
    const action = pathname.slice('/_control/'.length);
    const method = request.method ?? 'GET';
    if (method === 'GET' && action === 'status') return respondJson(listener, response, 200, await actions.status());
    if (method !== 'POST') throw new HttpError(405, `${method} ${pathname} is not supported; control actions are POST`);
    const body = await readJsonBody(request);
    switch (action) {
      case 'restart':
        return actions.restart(listener, body, response);
      case 'deploy':
        return respondJson(listener, response, 200, await actions.deploy(body));
      case 'undeploy':
        return respondJson(listener, response, 200, await actions.undeploy(body));
      case 'migrate':
        return respondJson(listener, response, 200, await actions.migrate(body));
      case 'sync':
        return respondJson(listener, response, 200, await actions.setSync(body));
      case 'reconfigure':
        return respondJson(listener, response, 200, await actions.reconfigure(body));
      case 'partition':
        return respondJson(listener, response, 200, actions.partition(body));
      default:
        throw new HttpError(404, `unknown control action "${action}"`);
    }
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** `?delay-ms=N` holds a traffic request open, to exercise draining with requests in flight. */
function trafficDelay(query: string): number {
  const raw = new URLSearchParams(query).get('delay-ms');
  if (raw === null || !/^\d{1,6}$/.test(raw)) return 0;
  return Math.min(Number(raw), MAX_TRAFFIC_DELAY_MS);
}

/**
 * Control requests come from the control script on the node itself. On a real instance the load balancer forwards
 * every path, so anything from another host is refused.
 */
function isSameHost(socket: net.Socket): boolean {
  const remote = normalizeAddress(socket.remoteAddress);
  if (remote === undefined) return false;
  return remote.startsWith('127.') || remote === '::1' || remote === normalizeAddress(socket.localAddress);
}

function normalizeAddress(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}
