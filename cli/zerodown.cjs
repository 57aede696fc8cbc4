#!/usr/bin/env node
// The `zerodown` command. In a clone of the repository it runs the TypeScript CLI with tsx's loader, so it needs no
// build step; from an installed package, the compiled CLI in dist/. Either way in one child Node process, so signals
// reach the sandbox directly (Ctrl-C reaches it through the process group; a kill of this process is passed on).
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const sources = path.join(__dirname, 'main.ts');
const args = fs.existsSync(sources)
  ? ['--import', pathToFileURL(require.resolve('tsx')).href, sources]
  : [path.join(__dirname, '..', 'dist', 'cli', 'main.js')];
const child = spawn(process.execPath, [...args, ...process.argv.slice(2)], {
  stdio: 'inherit',
  // The SDK warns that it will leave Node 20 in 2027; the Lambdas run on Node 24, and the warning only adds noise.
  env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env },
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGTERM' ? 143 : 130)));
