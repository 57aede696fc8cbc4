import type * as http from 'node:http';
import type { Listener } from './listener';
import { isRecord, parseJson } from './protocol';

/**
 * Reading requests and writing answers, the same way for every route: JSON bodies of a bounded size, checked fields,
 * and errors that carry the status they answer with.
 */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

export function respond(
  listener: Listener,
  response: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  const headers: http.OutgoingHttpHeaders = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extraHeaders,
  };
  // Tells keep-alive clients not to reuse a connection the node is about to close.
  if (listener.draining) headers.connection = 'close';
  response.writeHead(status, headers).end(body);
}

export function respondJson(
  listener: Listener,
  response: http.ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: http.OutgoingHttpHeaders = {},
): void {
  respond(listener, response, status, 'application/json', JSON.stringify(body), extraHeaders);
}

export function readJsonBody(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      const body = parseJson(Buffer.from(text));
      if (!isRecord(body)) return reject(new HttpError(400, 'request body must be a JSON object'));
      resolve(body);
    });
  });
}

export function optionalString(
  body: Record<string, unknown>,
  field: string,
  pattern: RegExp,
  expected: string,
): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new HttpError(400, `${field} must be ${expected} (matching ${pattern})`);
  }
  return value;
}

export function requiredString(
  body: Record<string, unknown>,
  field: string,
  pattern: RegExp,
  expected: string,
): string {
  const value = optionalString(body, field, pattern, expected);
  if (value === undefined) throw new HttpError(400, `${field} is required`);
  return value;
}
