import * as fs from 'node:fs';
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
