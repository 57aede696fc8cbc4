import * as path from 'node:path';
import {
  cachedPythonTools,
  installByHand,
  PythonToolsError,
  type RunResult,
  resolvePythonTools,
  type ToolsContext,
  type ToolsHost,
  type ToolsLayout,
} from '../../local/python-tools';

const ROOT = '/project';
const REQUIREMENTS = '# pins\nmoto[server]==5.2.1\ncfn-lint==1.51.0\n';
const VENV = path.join(ROOT, '.cache', 'python', 'venv');
const VENV_PYTHON = path.join(VENV, 'bin', 'python');
const SYSTEM_PYTHON = '/usr/bin/python3';

interface Probe {
  executable: string;
  moto?: string;
  cfnLint?: string;
  serverError?: string;
  cfnLintScript?: string;
}

/** A machine in memory: files with modification times, and Pythons that answer the probe as told. */
class FakeMachine implements ToolsHost {
  readonly files = new Map<string, { text: string; mtime: number }>();
  /** What each python command answers to the probe: its packages, or a failure to run at all. */
  readonly pythons = new Map<string, Probe | RunResult>();
  readonly calls: string[] = [];
  readonly lines: string[] = [];
  /** What `python3 -m venv` and `pip install` do; by default, they work and install the pins. */
  venv: () => RunResult = () => {
    if (!this.pythons.has('python3')) return notFound();
    this.touch(VENV_PYTHON);
    return ok();
  };
  pip: () => RunResult = () => {
    this.pythons.set(VENV_PYTHON, {
      executable: VENV_PYTHON,
      moto: '5.2.1',
      cfnLint: '1.51.0',
      cfnLintScript: path.join(VENV, 'bin', 'cfn-lint'),
    });
    this.touch(path.join(VENV, 'bin', 'cfn-lint'));
    return ok();
  };
  private clock = 1_000;

  constructor() {
    this.touch(path.join(ROOT, 'local', 'requirements.txt'), REQUIREMENTS);
  }

  touch(file: string, text = ''): void {
    this.clock += 1;
    this.files.set(file, { text, mtime: this.clock });
  }

  run(command: string, args: readonly string[]): RunResult {
    this.calls.push([command, ...args.map((arg) => (arg.includes('\n') ? '<probe>' : arg))].join(' '));
    if (args[0] === '-m' && args[1] === 'venv') return this.venv();
    if (args[0] === '-m' && args[1] === 'pip') return this.pip();
    if (args[0] === '--version') {
      const answer = this.pythons.get(command);
      return answer && 'status' in answer ? answer : notFound();
    }
    const answer = this.pythons.get(command);
    if (!answer || (command.startsWith('/') && !this.files.has(command))) return notFound();
    if ('status' in answer) return answer;
    const probe = {
      moto: null,
      cfnLint: null,
      motoFile: answer.moto ? `${path.dirname(answer.executable)}/site/moto/__init__.py` : null,
      cfnLintFile: answer.cfnLint ? `${path.dirname(answer.executable)}/site/cfnlint/__init__.py` : null,
      ...answer,
    };
    for (const file of [probe.executable, probe.motoFile, probe.cfnLintFile]) {
      if (file && !this.files.has(file)) this.touch(file);
    }
    return ok(`ZERODOWN-PROBE ${JSON.stringify(probe)}\n`);
  }

  exists = (file: string) => this.files.has(file);
  mtimeMs = (file: string) => this.files.get(file)?.mtime;
  readText = (file: string) => this.files.get(file)?.text;
  writeText = (file: string, text: string) => this.touch(file, text);
  remove(fileOrDir: string): void {
    for (const file of [...this.files.keys()]) {
      if (file === fileOrDir || file.startsWith(`${fileOrDir}/`)) this.files.delete(file);
    }
    this.pythons.delete(VENV_PYTHON);
  }
  log = (line: string) => {
    this.lines.push(line);
  };
  withLock = <T>(fn: () => T): T => fn();
  now = () => this.clock;
}

function ok(stdout = ''): RunResult {
  return { status: 0, stdout, stderr: '' };
}

function notFound(): RunResult {
  return { status: null, stdout: '', stderr: '', error: { code: 'ENOENT', message: 'spawn ENOENT' } };
}

function context(machine: FakeMachine, env: ToolsLayout['env'] = { PATH: '/usr/local/bin:/usr/bin' }): ToolsContext {
  return {
    host: machine,
    layout: {
      projectRoot: ROOT,
      requirementsFile: path.join(ROOT, 'local', 'requirements.txt'),
      venvDir: VENV,
      cacheFile: path.join(ROOT, '.cache', 'python', 'tools.json'),
      platform: 'linux',
      env,
    },
  };
}

/** The machine's python3 with both tools, as on this project's machines. */
function withSystemTools(machine: FakeMachine): void {
  machine.touch(SYSTEM_PYTHON);
  machine.touch('/usr/bin/cfn-lint');
  machine.pythons.set('python3', {
    executable: SYSTEM_PYTHON,
    moto: '5.2.1',
    cfnLint: '1.51.0',
    cfnLintScript: '/usr/bin/cfn-lint',
  });
}

/** A virtual environment that an earlier run set up, as a first run on a machine without the tools does. */
function withVenv(machine: FakeMachine): void {
  const system = machine.pythons.get('python3');
  machine.pythons.set('python3', { executable: SYSTEM_PYTHON });
  resolvePythonTools(context(machine), { setup: true });
  if (system) machine.pythons.set('python3', system);
  else machine.pythons.delete('python3');
  machine.calls.length = 0;
  machine.lines.length = 0;
}

const BY_HAND = 'pip install "moto[server]==5.2.1" cfn-lint==1.51.0';

describe('resolving the Python tools', () => {
  it('uses the project virtual environment when it was set up, without asking python3', () => {
    const machine = new FakeMachine();
    withVenv(machine);
    withSystemTools(machine);

    const tools = resolvePythonTools(context(machine), { setup: true });

    expect(tools).toMatchObject({ source: 'venv', python: VENV_PYTHON, motoVersion: '5.2.1' });
    expect(tools.cfnLint).toEqual({ command: path.join(VENV, 'bin', 'cfn-lint'), args: [] });
    expect(machine.calls).toEqual([`${VENV_PYTHON} -c <probe>`]);
    expect(machine.lines).toEqual([]);
  });

  it('uses the system python3 when it has moto 5 with its server and cfn-lint 1, and installs nothing', () => {
    const machine = new FakeMachine();
    withSystemTools(machine);

    const tools = resolvePythonTools(context(machine), { setup: true });

    expect(tools).toMatchObject({ source: 'system', python: SYSTEM_PYTHON, cfnLintVersion: '1.51.0' });
    expect(tools.cfnLint).toEqual({ command: '/usr/bin/cfn-lint', args: [] });
    expect(machine.calls).toEqual(['python3 -c <probe>']);
    expect(machine.lines).toEqual([]);
  });

  it('runs cfn-lint through the python that has it when no cfn-lint script sits beside it', () => {
    const machine = new FakeMachine();
    machine.pythons.set('python3', { executable: SYSTEM_PYTHON, moto: '5.2.1', cfnLint: '1.40.0' });

    const tools = resolvePythonTools(context(machine), { setup: false });

    expect(tools.cfnLint.command).toBe(SYSTEM_PYTHON);
    expect(tools.cfnLint.args[0]).toBe('-c');
    expect(tools.cfnLint.args[1]).toContain('from cfnlint.runner import main');
  });

  it('takes a cfn-lint 1 from PATH when python3 has moto but no cfn-lint', () => {
    const machine = new FakeMachine();
    machine.pythons.set('python3', { executable: SYSTEM_PYTHON, moto: '5.2.1' });
    machine.touch('/usr/local/bin/cfn-lint');
    machine.pythons.set('/usr/local/bin/cfn-lint', ok('cfn-lint 1.51.0\n'));

    const tools = resolvePythonTools(context(machine), { setup: false });

    expect(tools).toMatchObject({ source: 'system', cfnLintVersion: '1.51.0' });
    expect(tools.cfnLint).toEqual({ command: '/usr/local/bin/cfn-lint', args: [] });
  });

  it('sets up the virtual environment from the pinned requirements when python3 lacks the tools, and says so', () => {
    const machine = new FakeMachine();
    machine.pythons.set('python3', { executable: SYSTEM_PYTHON, moto: '5.2.1', cfnLint: '0.87.0' });

    const tools = resolvePythonTools(context(machine), { setup: true });

    expect(tools).toMatchObject({ source: 'venv', python: VENV_PYTHON });
    expect(machine.calls).toEqual([
      'python3 -c <probe>',
      `python3 -m venv --clear ${VENV}`,
      `${VENV_PYTHON} -m pip install --disable-pip-version-check --no-input -r ${ROOT}/local/requirements.txt`,
      `${VENV_PYTHON} -c <probe>`,
    ]);
    expect(machine.lines).toHaveLength(2);
    expect(machine.lines[0]).toMatch(
      /cfn-lint 0\.87\.0, not 1\.x.*setting up \.cache\/python\/venv with moto\[server\]==5\.2\.1/,
    );
    expect(machine.lines[1]).toMatch(
      /^zerodown: installed moto 5\.2\.1 and cfn-lint 1\.51\.0 into \.cache\/python\/venv/,
    );
  });

  it('says exactly what to install by hand when pip cannot reach the index, and leaves no half-made environment', () => {
    const machine = new FakeMachine();
    machine.pythons.set('python3', { executable: SYSTEM_PYTHON });
    machine.pip = () => ({
      status: 1,
      stdout: '',
      stderr: 'ERROR: Could not find a version that satisfies the requirement moto[server]==5.2.1\n',
    });

    const error = catchError(() => resolvePythonTools(context(machine), { setup: true }));

    expect(error).toBeInstanceOf(PythonToolsError);
    expect(error.message).toContain('.cache/python/venv: not set up');
    expect(error.message).toContain('python3: moto is not installed');
    expect(error.message).toContain('pip install failed with exit code 1 (ERROR: Could not find a version');
    expect(error.message).toContain(`\n  ${BY_HAND}\n`);
    expect(machine.exists(VENV_PYTHON)).toBe(false);
  });

  it('says so when there is no python3 at all', () => {
    const machine = new FakeMachine();

    const error = catchError(() => resolvePythonTools(context(machine), { setup: true }));

    expect(error.message).toContain('python3: not found');
    expect(machine.calls).toEqual(['python3 -c <probe>']);
    expect(machine.lines).toEqual([]);
    expect(error.message).toContain('Install Python 3 with its venv module, or install the tools by hand');
    expect(error.message).toContain(BY_HAND);
  });

  it('names the server extra when moto is there without it', () => {
    const machine = new FakeMachine();
    machine.pythons.set('python3', {
      executable: SYSTEM_PYTHON,
      moto: '5.2.1',
      cfnLint: '1.51.0',
      serverError: "ModuleNotFoundError: No module named 'flask'",
    });

    const error = catchError(() => resolvePythonTools(context(machine), { setup: false }));

    expect(error.message).toContain("moto.server does not import (ModuleNotFoundError: No module named 'flask')");
    expect(machine.calls).toEqual(['python3 -c <probe>']);
  });

  it('honours ZERODOWN_PYTHON, and sets nothing up when that python lacks the tools', () => {
    const machine = new FakeMachine();
    withSystemTools(machine);
    machine.pythons.set('/opt/py/bin/python', { executable: '/opt/py/bin/python', cfnLint: '1.51.0' });
    machine.touch('/opt/py/bin/python');
    machine.pythons.set('/opt/ok/bin/python', { executable: '/opt/ok/bin/python', moto: '5.0.0', cfnLint: '1.2.0' });
    machine.touch('/opt/ok/bin/python');

    const chosen = resolvePythonTools(context(machine, { ZERODOWN_PYTHON: '/opt/ok/bin/python' }), { setup: true });
    const error = catchError(() =>
      resolvePythonTools(context(machine, { ZERODOWN_PYTHON: '/opt/py/bin/python' }), { setup: true }),
    );

    expect(chosen).toMatchObject({ source: 'ZERODOWN_PYTHON', python: '/opt/ok/bin/python', motoVersion: '5.0.0' });
    expect(error.message).toContain('ZERODOWN_PYTHON=/opt/py/bin/python: moto is not installed');
    expect(error.message).toContain(BY_HAND);
    expect(machine.calls.filter((call) => call.includes('venv') || call.includes('pip'))).toEqual([]);
  });

  it('updates a virtual environment set up from older pins, and keeps it as it is when that fails', () => {
    const machine = new FakeMachine();
    withVenv(machine);
    machine.touch(path.join(ROOT, 'local', 'requirements.txt'), 'moto[server]==5.3.0\ncfn-lint==1.52.0\n');
    machine.pip = () => ({ status: 1, stdout: '', stderr: 'ERROR: No matching distribution found for moto\n' });

    const tools = resolvePythonTools(context(machine), { setup: true });

    expect(tools).toMatchObject({ source: 'venv', motoVersion: '5.2.1' });
    expect(machine.calls.some((call) => call.includes('-m venv'))).toBe(false);
    expect(machine.lines[1]).toMatch(/could not update \.cache\/python\/venv .*; using it as it is$/);
  });

  it('builds the by-hand command from the requirements file', () => {
    expect(installByHand(['moto[server]==5.2.1', 'cfn-lint==1.51.0'])).toBe(BY_HAND);
  });
});

describe('the cached resolution', () => {
  it('answers a second run without starting any process', () => {
    const machine = new FakeMachine();
    withSystemTools(machine);
    const first = cachedPythonTools(context(machine), { setup: true });
    machine.calls.length = 0;

    const second = cachedPythonTools(context(machine), { setup: true });

    expect(second).toEqual(first);
    expect(machine.calls).toEqual([]);
  });

  it('looks again when a file it rests on changed, or a virtual environment appeared', () => {
    const machine = new FakeMachine();
    withSystemTools(machine);
    cachedPythonTools(context(machine), { setup: true });
    machine.calls.length = 0;

    machine.touch(`${path.dirname(SYSTEM_PYTHON)}/site/moto/__init__.py`); // moto upgraded or reinstalled
    cachedPythonTools(context(machine), { setup: true });
    expect(machine.calls).toEqual(['python3 -c <probe>']);

    withVenv(machine);
    expect(cachedPythonTools(context(machine), { setup: true }).source).toBe('venv');
  });
});

describe('a virtual environment from older pins beside a working python3', () => {
  it('uses python3 and keeps answering from the cache', () => {
    const machine = new FakeMachine();
    withVenv(machine);
    withSystemTools(machine);
    machine.touch(path.join(ROOT, 'local', 'requirements.txt'), 'moto[server]==5.3.0\ncfn-lint==1.52.0\n');

    expect(cachedPythonTools(context(machine), { setup: true }).source).toBe('system');
    machine.calls.length = 0;
    expect(cachedPythonTools(context(machine), { setup: true }).source).toBe('system');
    expect(machine.calls).toEqual([]);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
