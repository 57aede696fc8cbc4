#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so it needs no build step. Signals are passed on, so Ctrl-C and a kill of
// this process both reach the sandbox and let it clean up.
const { spawn } = require('node:child_process');
const path = require('node:path');

const child = spawn(
  process.execPath,
  [require.resolve('tsx/cli'), path.join(__dirname, 'main.ts'), ...process.argv.slice(2)],
  // The SDK warns that it will leave Node 20 in 2027; the Lambdas run on Node 24, and the warning only adds noise.
  { stdio: 'inherit', env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env } },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 2 : 1)));
