import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpProbe } from '../domain/probe';

const MAX_BODY_BYTES = 64 * 1024;

/**
 * One GET with a hard timeout. HTTPS certificates are not verified, as an ALB health check does not verify them:
 * nodes answer on their private IP, which no certificate names.
 */
export function httpGet(url: string, timeoutMs: number): Promise<HttpProbe> {
  const started = Date.now();
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const done = (result: Omit<HttpProbe, 'url' | 'elapsedMs'>) =>
      resolve({ url, ...result, elapsedMs: Date.now() - started });
    const request = client.get(url, { timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      response.on('end', () =>
        done({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY_BYTES),
        }),
      );
      response.on('error', (error) => done({ error: error.message }));
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error) => done({ error: error.message }));
  });
}
