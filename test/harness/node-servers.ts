import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NodeServer } from '../../sandbox/node/server';

/**
 * The reference node servers and temporary directories a test file starts, closed and removed after each test. Call
 * at the top of a test file: it registers the `afterEach`.
 */
export function useNodeServers(tempPrefix: string) {
  const servers: NodeServer[] = [];
  const tempDirs: string[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
    for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    servers,
    /** A new empty directory, removed after the test. */
    tempDir(): string {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), tempPrefix));
      tempDirs.push(dir);
      return dir;
    },
  };
}

/** A port free on `ip` now, for a node server to listen on. */
export function freePort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, ip, () => {
      const address = probe.address();
      probe.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
