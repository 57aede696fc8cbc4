/**
 * Finds the Python tools the project runs (moto_server, the local AWS emulator, and cfn-lint), or sets them up.
 *
 * In this order: $ZERODOWN_PYTHON if set; the project's own virtual environment (.cache/python/venv) if it was set up;
 * the machine's python3 if it has moto 5 with its server extra and cfn-lint 1 (or a cfn-lint 1 on PATH); otherwise it
 * creates the virtual environment and installs local/requirements.txt into it. What it found is cached in
 * .cache/python/tools.json and checked against the files' modification times, so a later run starts no process.
 *
 *   node --import tsx local/python-tools.ts                  resolve, set up if needed, print what it uses
 *   node --import tsx local/python-tools.ts --postinstall    the same, but a failure only warns (npm ci goes on)
 *   node --import tsx local/python-tools.ts cfn-lint [args]  run the resolved cfn-lint
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../cdk/paths';

export interface Command {
  readonly command: string;
  readonly args: readonly string[];
}

export interface PythonTools {
  /** Where the tools came from. */
  readonly source: 'ZERODOWN_PYTHON' | 'venv' | 'system';
  /** The interpreter that runs moto_server: its sys.executable, so a pyenv shim or a bare name is resolved. */
  readonly python: string;
  readonly motoVersion: string;
  /** cfn-lint as a command and leading arguments; append cfn-lint's own arguments. */
  readonly cfnLint: Command;
  readonly cfnLintVersion: string;
  /** Files whose modification times tell whether a cached resolution still holds. */
  readonly files: readonly string[];
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the command could not be run at all (ENOENT: not installed) or was stopped by the time limit. */
  readonly error?: { readonly code?: string; readonly message: string };
}

/** Everything the resolution does to the machine, so a test can stand in for it. */
export interface ToolsHost {
  run(command: string, args: readonly string[], timeoutMs: number): RunResult;
  exists(file: string): boolean;
  mtimeMs(file: string): number | undefined;
  readText(file: string): string | undefined;
  writeText(file: string, text: string): void;
  remove(fileOrDir: string): void;
  log(line: string): void;
  /** Runs fn while no other process sets up the virtual environment. */
  withLock<T>(fn: () => T): T;
  now(): number;
}

export interface ToolsLayout {
  readonly projectRoot: string;
  readonly requirementsFile: string;
  readonly venvDir: string;
  readonly cacheFile: string;
  readonly platform: NodeJS.Platform;
  readonly env: { readonly ZERODOWN_PYTHON?: string; readonly PATH?: string };
}

export interface ToolsContext {
  readonly host: ToolsHost;
  readonly layout: ToolsLayout;
}

export class PythonToolsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonToolsError';
    // The message says all a user needs; a stack trace under it only buries it.
    this.stack = `${this.name}: ${message}`;
  }
}

/** Importing moto.server takes a second or two on an idle machine; the limit only stops one that hangs. */
const PROBE_TIMEOUT_MS = 120_000;
const PIP_TIMEOUT_MS = 30 * 60_000;
const VENV_STAMP = 'zerodown-requirements.sha256';
const PROBE_MARK = 'ZERODOWN-PROBE ';
const CACHE_FORMAT = 1;

/** One Python process tells the versions, whether moto's server imports (it needs the server extra) and where it all is. */
const PROBE_SCRIPT = `
import importlib.metadata as md, importlib.util as iu, json, os, sys
out = {"executable": sys.executable}
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
def origin(name):
    try:
        spec = iu.find_spec(name)
    except Exception:
        return None
    return spec.origin if spec else None
out["moto"] = version("moto")
out["cfnLint"] = version("cfn-lint")
out["motoFile"] = origin("moto")
out["cfnLintFile"] = origin("cfnlint")
if out["moto"]:
    try:
        import moto.server
    except Exception as error:
        out["serverError"] = type(error).__name__ + ": " + str(error)
for name in ("cfn-lint", "cfn-lint.exe"):
    script = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(script):
        out["cfnLintScript"] = script
        break
print(${JSON.stringify(PROBE_MARK)} + json.dumps(out))
`;

/** What cfn-lint's own console script does, for a Python that has cfn-lint but no script beside it. */
const CFN_LINT_MAIN = 'import sys\nfrom cfnlint.runner import main\nsys.exit(main())';

interface Probe {
  executable: string;
  moto: string | null;
  cfnLint: string | null;
  motoFile: string | null;
  cfnLintFile: string | null;
  serverError?: string;
  cfnLintScript?: string;
}

type Evaluation = { ok: true; tools: PythonTools } | { ok: false; reason: string; missing?: boolean };

export function defaultLayout(env: NodeJS.ProcessEnv = process.env): ToolsLayout {
  return {
    projectRoot: PROJECT_ROOT,
    requirementsFile: path.join(PROJECT_ROOT, 'local', 'requirements.txt'),
    venvDir: path.join(PROJECT_ROOT, '.cache', 'python', 'venv'),
    cacheFile: path.join(PROJECT_ROOT, '.cache', 'python', 'tools.json'),
    platform: process.platform,
    env: { ZERODOWN_PYTHON: env.ZERODOWN_PYTHON || undefined, PATH: env.PATH },
  };
}

export function venvPython(layout: ToolsLayout): string {
  return layout.platform === 'win32'
    ? path.join(layout.venvDir, 'Scripts', 'python.exe')
    : path.join(layout.venvDir, 'bin', 'python');
}

function venvStampFile(layout: ToolsLayout): string {
  return path.join(layout.venvDir, VENV_STAMP);
}

function systemPython(layout: ToolsLayout): string {
  return layout.platform === 'win32' ? 'python' : 'python3';
}

/** The requirement lines of the pinned requirements file, e.g. ['moto[server]==5.2.1', 'cfn-lint==1.51.0']. */
export function readRequirements(ctx: ToolsContext): string[] {
  const text = ctx.host.readText(ctx.layout.requirementsFile);
  if (text === undefined) throw new PythonToolsError(`zerodown: ${ctx.layout.requirementsFile} is missing`);
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0);
}

function pinnedMajor(requirements: readonly string[], name: string): number {
  const line = requirements.find((requirement) => requirement.replace(/\[.*?\]/, '').startsWith(`${name}==`));
  const major = line ? Number.parseInt(line.slice(line.indexOf('==') + 2), 10) : Number.NaN;
  if (Number.isNaN(major)) throw new PythonToolsError(`zerodown: no ${name}==<version> pin in local/requirements.txt`);
  return major;
}

/** The command to give a user who has to install the tools by hand. */
export function installByHand(requirements: readonly string[]): string {
  return `pip install ${requirements.map((requirement) => (/[[\]<>; ]/.test(requirement) ? `"${requirement}"` : requirement)).join(' ')}`;
}

function requirementsHash(ctx: ToolsContext): string {
  return createHash('sha256').update(readRequirements(ctx).join('\n')).digest('hex');
}

function display(ctx: ToolsContext, file: string): string {
  const relative = path.relative(ctx.layout.projectRoot, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

function lastLines(text: string, count: number): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const errors = lines.filter((line) => /^(ERROR|error):/.test(line));
  return (errors.length > 0 ? errors : lines).slice(-count).join(' / ');
}

function failureOf(result: RunResult): string {
  if (result.error?.code === 'ENOENT') return 'not found';
  if (result.error?.code === 'ETIMEDOUT') return 'timed out';
  if (result.error) return `failed: ${result.error.message}`;
  const detail = lastLines(`${result.stderr}\n${result.stdout}`, 2);
  return `failed with exit code ${result.status}${detail ? ` (${detail})` : ''}`;
}

function findOnPath(ctx: ToolsContext, name: string): string | undefined {
  const extensions = ctx.layout.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (ctx.layout.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      if (ctx.host.exists(candidate)) return candidate;
    }
  }
  return undefined;
}

function major(version: string | null | undefined): number {
  return version ? Number.parseInt(version, 10) : Number.NaN;
}

/** Runs the probe with one Python and judges whether it has what the project needs. */
function evaluate(ctx: ToolsContext, source: PythonTools['source'], python: string): Evaluation {
  const requirements = readRequirements(ctx);
  const motoMajor = pinnedMajor(requirements, 'moto');
  const cfnLintMajor = pinnedMajor(requirements, 'cfn-lint');
  const result = ctx.host.run(python, ['-c', PROBE_SCRIPT], PROBE_TIMEOUT_MS);
  const line = result.stdout.split('\n').find((text) => text.startsWith(PROBE_MARK));
  if (result.status !== 0 || !line) {
    return { ok: false, reason: failureOf(result), missing: result.error?.code === 'ENOENT' };
  }
  const probe = JSON.parse(line.slice(PROBE_MARK.length)) as Probe;
  if (!probe.moto) return { ok: false, reason: 'moto is not installed' };
  if (major(probe.moto) !== motoMajor) {
    return { ok: false, reason: `it has moto ${probe.moto}, not ${motoMajor}.x` };
  }
  if (probe.serverError) {
    return { ok: false, reason: `moto.server does not import (${probe.serverError}): moto[server] is needed` };
  }
  const files = [probe.executable, probe.motoFile].filter((file): file is string => Boolean(file));
  let cfnLint: Command;
  let cfnLintVersion: string;
  if (major(probe.cfnLint) === cfnLintMajor && probe.cfnLint) {
    cfnLintVersion = probe.cfnLint;
    cfnLint = probe.cfnLintScript
      ? { command: probe.cfnLintScript, args: [] }
      : { command: probe.executable, args: ['-c', CFN_LINT_MAIN] };
    files.push(...[probe.cfnLintFile, probe.cfnLintScript].filter((file): file is string => Boolean(file)));
  } else {
    // cfn-lint may live in an environment of its own (pipx, say): a cfn-lint 1 on PATH will do.
    const onPath = findOnPath(ctx, 'cfn-lint');
    const version = onPath ? ctx.host.run(onPath, ['--version'], PROBE_TIMEOUT_MS) : undefined;
    const found = version?.status === 0 ? /(\d+\.\d+\S*)/.exec(version.stdout + version.stderr)?.[1] : undefined;
    if (!onPath || !found || major(found) !== cfnLintMajor) {
      const has = probe.cfnLint ? `cfn-lint ${probe.cfnLint}, not ${cfnLintMajor}.x` : 'no cfn-lint';
      const pathNote = found ? `, and cfn-lint on PATH is ${found}` : '';
      return { ok: false, reason: `it has moto ${probe.moto} but ${has}${pathNote}` };
    }
    cfnLintVersion = found;
    cfnLint = { command: onPath, args: [] };
    files.push(onPath);
  }
  if (source === 'venv') files.push(venvStampFile(ctx.layout));
  return {
    ok: true,
    tools: { source, python: probe.executable, motoVersion: probe.moto, cfnLint, cfnLintVersion, files },
  };
}

const NO_PYTHON = 'Install Python 3 with its venv module, or install the tools by hand, then run the command again:';

function failure(ctx: ToolsContext, notes: readonly string[], advice?: string): PythonToolsError {
  const requirements = readRequirements(ctx);
  return new PythonToolsError(
    [
      'zerodown: the tests, the sandbox and lint:cfn need moto_server (moto[server] ' +
        `${pinnedMajor(requirements, 'moto')}) and cfn-lint ${pinnedMajor(requirements, 'cfn-lint')}, ` +
        'and these could not be found or set up:',
      ...notes.map((note) => `  ${note}`),
      advice ?? 'Install them by hand, then run the command again:',
      `  ${installByHand(requirements)}`,
      '(or set ZERODOWN_PYTHON to a Python that has them)',
    ].join('\n'),
  );
}

interface VenvState {
  readonly present: boolean;
  /** Set up from the current requirements file (its stamp matches). */
  readonly current: boolean;
  readonly evaluation?: Evaluation;
}

function venvState(ctx: ToolsContext): VenvState {
  if (!ctx.host.exists(venvPython(ctx.layout))) return { present: false, current: false };
  const stamp = ctx.host.readText(venvStampFile(ctx.layout))?.trim();
  return {
    present: true,
    current: stamp === requirementsHash(ctx),
    evaluation: evaluate(ctx, 'venv', venvPython(ctx.layout)),
  };
}

/** Creates (or brings up to date) the project's virtual environment, under a lock; throws the by-hand message on failure. */
function setUpVenv(ctx: ToolsContext, notes: readonly string[], reason: string): PythonTools {
  return ctx.host.withLock(() => {
    const { host, layout } = ctx;
    const venv = display(ctx, layout.venvDir);
    // Another process may have set it up while this one waited for the lock.
    const state = venvState(ctx);
    if (state.current && state.evaluation?.ok) return state.evaluation.tools;
    const stale = state.evaluation?.ok ? state.evaluation.tools : undefined;
    const requirements = readRequirements(ctx);
    const base = systemPython(layout);
    const started = host.now();
    host.log(
      `zerodown: ${reason}; ${stale ? 'updating' : 'setting up'} ${venv} with ${requirements.join(' ')} ` +
        `(${display(ctx, layout.requirementsFile)}); this takes a minute or two...`,
    );
    let failed: string | undefined;
    let noPython = false;
    if (!stale) {
      const made = host.run(base, ['-m', 'venv', '--clear', layout.venvDir], PROBE_TIMEOUT_MS);
      noPython = made.error?.code === 'ENOENT';
      if (noPython) failed = `${base} not found`;
      else if (made.status !== 0 || made.error) failed = `${base} -m venv ${failureOf(made)}`;
    }
    if (!failed) {
      const pip = host.run(
        venvPython(layout),
        ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-r', layout.requirementsFile],
        PIP_TIMEOUT_MS,
      );
      if (pip.status !== 0 || pip.error) failed = `pip install ${failureOf(pip)}`;
    }
    if (!failed) {
      const evaluation = evaluate(ctx, 'venv', venvPython(layout));
      if (evaluation.ok) {
        host.writeText(venvStampFile(layout), `${requirementsHash(ctx)}\n`);
        const seconds = Math.round((host.now() - started) / 1000);
        host.log(
          `zerodown: installed moto ${evaluation.tools.motoVersion} and cfn-lint ${evaluation.tools.cfnLintVersion} ` +
            `into ${venv} (${seconds} s)`,
        );
        return evaluation.tools;
      }
      failed = `after pip install, ${evaluation.reason}`;
    }
    if (stale) {
      // A working environment from older pins beats none: keep it, and say so.
      host.log(`zerodown: could not update ${venv} (${failed}); using it as it is`);
      return stale;
    }
    host.remove(layout.venvDir);
    throw failure(ctx, [...notes, `setting up ${venv}: ${failed}`], noPython ? NO_PYTHON : undefined);
  });
}

/**
 * Finds the tools without the cache: $ZERODOWN_PYTHON, then the project's virtual environment, then python3; with
 * setup, creates the virtual environment when neither has them. Throws a PythonToolsError that says what to install.
 */
export function resolvePythonTools(ctx: ToolsContext, options: { setup: boolean }): PythonTools {
  const { layout } = ctx;
  const override = layout.env.ZERODOWN_PYTHON;
  if (override) {
    const evaluation = evaluate(ctx, 'ZERODOWN_PYTHON', override);
    if (evaluation.ok) return evaluation.tools;
    throw failure(
      ctx,
      [`ZERODOWN_PYTHON=${override}: ${evaluation.reason}`],
      `Install them for that Python by hand (or unset ZERODOWN_PYTHON), then run the command again:`,
    );
  }
  const notes: string[] = [];
  const venv = display(ctx, layout.venvDir);
  const state = venvState(ctx);
  if (state.evaluation?.ok && state.current) return state.evaluation.tools;
  if (!state.present) notes.push(`${venv}: not set up`);
  else if (!state.evaluation?.ok) notes.push(`${venv}: ${state.evaluation?.reason ?? 'not usable'}`);
  else notes.push(`${venv}: set up from an older local/requirements.txt`);

  const base = systemPython(layout);
  const system = evaluate(ctx, 'system', base);
  if (system.ok) return system.tools;
  notes.push(`${base}: ${system.reason}`);

  if (state.evaluation?.ok && !options.setup) return state.evaluation.tools;
  if (!options.setup) throw failure(ctx, notes);
  // Without python3 no environment can be made; one from older pins can still be updated with its own pip.
  if (system.missing && !state.evaluation?.ok) throw failure(ctx, notes, NO_PYTHON);
  const reason = state.evaluation?.ok
    ? `${venv} was set up from an older local/requirements.txt`
    : `no moto_server and cfn-lint here (${base}: ${system.reason})`;
  return setUpVenv(ctx, notes, reason);
}

interface CacheRecord {
  format: number;
  key: string;
  tools: PythonTools;
  mtimes: Record<string, number>;
  /** When the virtual environment was last set up (its stamp), or null: a set-up since then changes the answer. */
  venvStamp: number | null;
}

function cacheKey(ctx: ToolsContext): string {
  return createHash('sha256')
    .update(JSON.stringify([CACHE_FORMAT, requirementsHash(ctx), ctx.layout.env.ZERODOWN_PYTHON ?? null]))
    .digest('hex');
}

/** The cached resolution, if every file it rests on is unchanged and no virtual environment appeared since. */
export function readCache(ctx: ToolsContext): PythonTools | undefined {
  const { host, layout } = ctx;
  const text = host.readText(layout.cacheFile);
  if (text === undefined) return undefined;
  let record: CacheRecord;
  try {
    record = JSON.parse(text) as CacheRecord;
  } catch {
    return undefined;
  }
  if (record?.format !== CACHE_FORMAT || record.key !== cacheKey(ctx) || !record.tools?.files) return undefined;
  for (const file of record.tools.files) {
    if (host.mtimeMs(file) !== record.mtimes[file]) return undefined;
  }
  if ((host.mtimeMs(venvStampFile(layout)) ?? null) !== record.venvStamp) return undefined;
  return record.tools;
}

function writeCache(ctx: ToolsContext, tools: PythonTools): void {
  const mtimes: Record<string, number> = {};
  for (const file of tools.files) {
    const mtime = ctx.host.mtimeMs(file);
    if (mtime === undefined) return;
    mtimes[file] = mtime;
  }
  const venvStamp = ctx.host.mtimeMs(venvStampFile(ctx.layout)) ?? null;
  const record: CacheRecord = { format: CACHE_FORMAT, key: cacheKey(ctx), tools, mtimes, venvStamp };
  try {
    ctx.host.writeText(ctx.layout.cacheFile, `${JSON.stringify(record, null, 2)}\n`);
  } catch {
    // A read-only checkout only loses the shortcut: the next run looks again.
  }
}

/** resolvePythonTools behind the cache: a run with nothing changed starts no process. */
export function cachedPythonTools(ctx: ToolsContext, options: { setup: boolean; refresh?: boolean }): PythonTools {
  const cached = options.refresh ? undefined : readCache(ctx);
  if (cached) return cached;
  const tools = resolvePythonTools(ctx, options);
  writeCache(ctx, tools);
  return tools;
}

export function describeTools(tools: PythonTools): string {
  const where = { ZERODOWN_PYTHON: '$ZERODOWN_PYTHON', venv: 'project venv', system: 'system python3' }[tools.source];
  const cfnLint = [tools.cfnLint.command, ...tools.cfnLint.args.map((arg) => (arg.includes('\n') ? '-c …' : arg))];
  return (
    `zerodown: moto ${tools.motoVersion} with ${tools.python} (${where}); ` +
    `cfn-lint ${tools.cfnLintVersion} as ${[...new Set(cfnLint)].join(' ')}`
  );
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const LOCK_STALE_MS = 45 * 60_000;
const LOCK_WAIT_MS = 45 * 60_000;

export function nodeHost(lockDir = path.join(PROJECT_ROOT, '.cache', 'python', 'setup.lock')): ToolsHost {
  return {
    run(command, args, timeoutMs) {
      const result = spawnSync(command, args, {
        encoding: 'utf8',
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const error = result.error as NodeJS.ErrnoException | undefined;
      return {
        status: result.status,
        stdout: result.stdout ?? '',
        stderr: result.stderr ?? '',
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      };
    },
    exists: (file) => fs.existsSync(file),
    mtimeMs(file) {
      try {
        return fs.statSync(file).mtimeMs;
      } catch {
        return undefined;
      }
    },
    readText(file) {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    },
    writeText(file, text) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(temporary, text);
      fs.renameSync(temporary, file);
    },
    remove: (fileOrDir) => fs.rmSync(fileOrDir, { recursive: true, force: true }),
    log: (line) => process.stderr.write(`${line}\n`),
    withLock(fn) {
      fs.mkdirSync(path.dirname(lockDir), { recursive: true });
      const deadline = Date.now() + LOCK_WAIT_MS;
      let told = false;
      for (;;) {
        try {
          fs.mkdirSync(lockDir);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
          if (age > LOCK_STALE_MS) fs.rmSync(lockDir, { recursive: true, force: true });
          else if (Date.now() > deadline) throw new PythonToolsError(`zerodown: ${lockDir} is held by another set-up`);
          else {
            if (!told) process.stderr.write(`zerodown: waiting for another set-up of the Python tools (${lockDir})\n`);
            told = true;
            sleepSync(1_000);
          }
        }
      }
      try {
        return fn();
      } finally {
        fs.rmSync(lockDir, { recursive: true, force: true });
      }
    },
    now: () => Date.now(),
  };
}

let resolved: { tools: PythonTools } | { error: unknown } | undefined;

/** The machine's tools, set up if missing; resolved once a process. Throws a PythonToolsError that says what to install. */
export function pythonTools(): PythonTools {
  if (!resolved) {
    try {
      resolved = { tools: cachedPythonTools({ host: nodeHost(), layout: defaultLayout() }, { setup: true }) };
    } catch (error) {
      // One attempt a process: a second moto_server or lint would only repeat the same set-up and message.
      resolved = { error };
    }
  }
  if ('error' in resolved) throw resolved.error;
  return resolved.tools;
}

/** cfn-lint as the command and leading arguments to run it with; append cfn-lint's own arguments. */
export function cfnLintCommand(): Command {
  return pythonTools().cfnLint;
}

function main(argv: readonly string[]): number {
  const [first, ...rest] = argv;
  const ctx = { host: nodeHost(), layout: defaultLayout() };
  try {
    if (first === 'cfn-lint') {
      const { command, args } = cachedPythonTools(ctx, { setup: true }).cfnLint;
      const result = spawnSync(command, [...args, ...rest], { stdio: 'inherit' });
      if (result.error) throw result.error;
      return result.status ?? 1;
    }
    const tools = cachedPythonTools(ctx, { setup: true, refresh: argv.includes('--refresh') });
    process.stderr.write(`${describeTools(tools)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof PythonToolsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    if (first === '--postinstall') {
      process.stderr.write('zerodown: npm ci goes on; npm test and npm run demo stop with this message until then.\n');
      return 0;
    }
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
