import { parseServerArgs, USAGE } from './arguments';
import type { NodeServerOptions } from './options';
import { errorMessage } from './protocol';
import { NodeRuntime } from './runtime';

/**
 * A stand-in for one node of a WSO2-like server cluster: it serves traffic, reports its version, restarts onto a new
 * version, holds services in a deployment directory that workers copy from the manager (file sync), and migrates the
 * cluster's shared database. The sandbox runs one per "instance"; the same file runs on a real instance.
 *
 * This file is the entry, in process (startNodeServer) and as a process (main); runtime.ts and the modules it wires
 * do the work.
 */

export { parseServerArgs } from './arguments';
export type { NodeServerOptions } from './options';

export interface NodeServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const node = new NodeRuntime(options);
  await node.boot();
  return {
    get url() {
      return node.url;
    },
    close: () => node.close(),
  };
}

async function main(): Promise<void> {
  let options: NodeServerOptions;
  try {
    options = parseServerArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  let node: NodeServer | undefined;
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: shutting down ${options.id}\n`);
    // Still booting: nothing listens yet and state writes are atomic, so leaving at once loses nothing.
    if (!node) process.exit(0);
    node.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${errorMessage(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  node = await startNodeServer(options);
}

if (typeof require !== 'undefined' && require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`node server failed: ${errorMessage(error)}\n`);
    process.exit(1);
  });
}
