#!/usr/bin/env node
// Runs the TypeScript CLI with tsx's loader in one Node process, so it needs no build step and signals reach the
// sandbox directly (Ctrl-C reaches it through the process group; a kill of this process is passed on).
const { spawn } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const child = spawn(
  process.execPath,
  ['--import', pathToFileURL(require.resolve('tsx')).href, path.join(__dirname, 'main.ts'), ...process.argv.slice(2)],
  // The SDK warns that it will leave Node 20 in 2027; the Lambdas run on Node 24, and the warning only adds noise.
  { stdio: 'inherit', env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env } },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 143 : 130)));
