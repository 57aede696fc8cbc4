// npm runs this after `npm install` and `npm ci`, in this repository and in every project that installs zerodown as
// a construct library. Only the repository has local/: its tests, sandbox and cfn-lint need the Python tools, which
// local/python-tools.ts finds or sets up. The package ships without local/ and needs no Python at synthesis.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const pythonTools = path.join(root, 'local', 'python-tools.ts');
if (fs.existsSync(pythonTools)) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', pythonTools, '--postinstall'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (child.error) throw child.error;
  process.exitCode = child.status ?? 1;
}
