import * as fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { parseClusterModel } from '../functions/domain/cluster-model';
import { checkCommandSources } from '../functions/domain/command-sources';
import { ZeroDownError } from '../functions/domain/errors';
import { parseInput } from '../functions/domain/input';
import { OPERATOR_VALUE_PATTERNS } from '../functions/domain/operator-values';
import { deployRequestSchema } from '../functions/domain/plans/deploy-service';
import { patchRequestSchema, upgradeRequestSchema } from '../functions/domain/plans/rollout';
import { updateRequestSchema } from '../functions/domain/plans/update-service';
import { isWorkflowName, WORKFLOW_NAMES, WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import { runPreflight } from '../functions/operations/preflight';
import { installPromiseWithResolvers } from '../local/polyfills';
import {
  CliError,
  clusterStateMachines,
  describeExecution,
  executionNameFor,
  recentExecutions,
  startExecution,
  stateMachineOf,
  stopExecution,
} from './executions';
import { clusterModelJsonSchema } from './model-schema';
import { registerReportCommand } from './report-command';
import type { SandboxCommands } from './sandbox-options';
import { openSession, type Session, type SessionOptions } from './session';
import { clusterStatus, statusLines } from './status';
import { watchExecution } from './watch';

installPromiseWithResolvers();

/**
 * The zerodown command. Every command takes `--json` for scripts; exit codes: 0 success, 1 a failed, rolled-back or
 * aborted workflow or a failed check, 2 bad usage or input (found before anything is touched). Errors are one line.
 */

interface GlobalOptions extends SessionOptions {
  readonly json?: boolean;
}

/** The request schema each maintenance workflow checks first; the CLI checks the same before it starts anything. */
const REQUEST_SCHEMAS: Partial<Record<WorkflowName, Parameters<typeof parseInput>[0]>> = {
  'patch-server': patchRequestSchema,
  'upgrade-version': upgradeRequestSchema,
  'deploy-service': deployRequestSchema,
  'update-service': updateRequestSchema,
};

const DEFAULT_WATCH_SECONDS = 6 * 3600;

function out(text: string): void {
  process.stdout.write(text);
}

function printJson(value: unknown): void {
  out(`${JSON.stringify(value, null, 2)}\n`);
}

/** `--set key=value`: booleans and JSON lists or objects are parsed; an operator value (patchId...) stays a string. */
export function parseSetting(setting: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const at = setting.indexOf('=');
  if (at <= 0) throw new CliError(`--set takes key=value, not "${setting}"`, 2);
  const key = setting.slice(0, at);
  const raw = setting.slice(at + 1);
  let value: unknown = raw;
  if (raw === 'true' || raw === 'false') value = raw === 'true';
  else if (/^[[{]/.test(raw) || (/^-?\d+(\.\d+)?$/.test(raw) && !Object.hasOwn(OPERATOR_VALUE_PATTERNS, key))) {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new CliError(`--set ${key}: "${raw}" is not valid JSON`, 2);
    }
  }
  return { ...previous, [key]: value };
}

function workflowOf(name: string): WorkflowName {
  if (!isWorkflowName(name)) throw new CliError(`Unknown workflow "${name}": one of ${WORKFLOW_NAMES.join(', ')}`, 2);
  return name;
}

/** The execution input: `--input` file, then `--set` values, then the cluster; checked as the workflow will. */
function requestOf(
  workflow: WorkflowName,
  cluster: string,
  options: { set?: Record<string, unknown>; input?: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  let fromFile: Record<string, unknown> = {};
  if (options.input) {
    try {
      fromFile = JSON.parse(fs.readFileSync(options.input, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new CliError(`--input ${options.input}: ${(error as Error).message}`, 2);
    }
  }
  const request = { ...fromFile, ...options.set, ...extra, cluster };
  const schema = REQUEST_SCHEMAS[workflow];
  if (schema) parseInput(schema, request, workflow);
  return request;
}

async function withSession<T>(program: Command, cluster: string | undefined, run: (session: Session) => Promise<T>) {
  const globals = program.opts<GlobalOptions>();
  const session = openSession(globals, cluster);
  if (session.target !== 'AWS' && !globals.endpoint && !process.env.ZERODOWN_ENDPOINT && !globals.json) {
    process.stderr.write(`using the sandbox at ${session.target}\n`);
  }
  return run(session);
}

function watchOptions(json: boolean | undefined, timeoutSeconds: number) {
  return {
    tty: Boolean(process.stdout.isTTY),
    write: out,
    timeoutMs: timeoutSeconds * 1000,
    quiet: Boolean(json),
  };
}

function exitCodeOf(status: string): number {
  return status === 'SUCCEEDED' ? 0 : 1;
}

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('zerodown')
    .description('Zero-downtime patching, upgrades, deploys and failover for EC2 server clusters')
    .addOption(new Option('--endpoint <url>', 'send AWS calls to this endpoint (a sandbox)').env('ZERODOWN_ENDPOINT'))
    .option('--region <region>', 'AWS region (default: the standard region chain)')
    .option('--json', 'print JSON for scripts')
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] ? `${text.split('\n')[0]}\n` : text) })
    .exitOverride();

  const json = () => Boolean(program.opts<GlobalOptions>().json);
  /** Follows an execution to its end, prints it (as JSON with --json), and exits with its outcome. */
  const follow = async (session: Session, executionArn: string, timeoutSeconds: number) => {
    const result = await watchExecution(session.sfn, executionArn, watchOptions(json(), timeoutSeconds));
    if (json()) printJson(result);
    setExitCode(exitCodeOf(result.status));
  };
  const collect = (value: string, previous: Record<string, unknown>) => parseSetting(value, previous);

  program
    .command('status')
    .description('nodes, roles, slots, weights, target health, heartbeat alarms and what runs now')
    .argument('<cluster>')
    .action(async (cluster: string) => {
      const status = await withSession(program, cluster, (session) => clusterStatus(session, cluster));
      if (json()) printJson(status);
      else out(`${statusLines(status).join('\n')}\n`);
    });

  program
    .command('plan')
    .description('dry-run a workflow: the numbered plan with the healthy capacity predicted at each step')
    .argument('<workflow>')
    .argument('<cluster>')
    .option('--set <key=value>', 'an input value (repeatable)', collect, {})
    .option('--input <file>', 'the input as a JSON file')
    .action(async (name: string, cluster: string, options: { set: Record<string, unknown>; input?: string }) => {
      const workflow = workflowOf(name);
      if (!REQUEST_SCHEMAS[workflow]) throw new CliError(`${workflow} has no dry run`, 2);
      const request = requestOf(workflow, cluster, options, { dryRun: true });
      const result = await withSession(program, cluster, async (session) => {
        const arn = await stateMachineOf(session.sfn, cluster, workflow);
        const executionArn = await startExecution(session.sfn, arn, request, `${executionNameFor(workflow)}-plan`);
        return watchExecution(session.sfn, executionArn, { ...watchOptions(true, 600), quiet: true });
      });
      if (result.status !== 'SUCCEEDED') {
        throw new CliError(
          `The dry run ended ${result.status}: ${result.view.error ?? ''} ${result.view.cause ?? ''}`.trim(),
        );
      }
      if (json()) printJson(result.output);
      else out(`${planLines(workflow, cluster, result.output).join('\n')}\n`);
    });

  program
    .command('start')
    .description('start a workflow; with --watch, follow it live and exit non-zero unless it succeeds')
    .argument('<workflow>')
    .argument('<cluster>')
    .option('--set <key=value>', 'an input value (repeatable)', collect, {})
    .option('--input <file>', 'the input as a JSON file')
    .option('--name <name>', 'the execution name (a retried start with the same name is the same execution)')
    .option('--watch', 'follow the execution until it ends')
    .option('--timeout <seconds>', 'stop following after this long', String(DEFAULT_WATCH_SECONDS))
    .action(
      async (
        name: string,
        cluster: string,
        options: { set: Record<string, unknown>; input?: string; name?: string; watch?: boolean; timeout: string },
      ) => {
        const workflow = workflowOf(name);
        const request = requestOf(workflow, cluster, options);
        await withSession(program, cluster, async (session) => {
          const arn = await stateMachineOf(session.sfn, cluster, workflow);
          const executionArn = await startExecution(
            session.sfn,
            arn,
            request,
            options.name ?? executionNameFor(workflow),
          );
          if (!options.watch) {
            if (json()) printJson({ executionArn });
            else
              out(`started ${workflow} on ${cluster}: ${executionArn}\n  follow it: zerodown watch ${executionArn}\n`);
            return;
          }
          if (!json()) out(`started ${workflow} on ${cluster}: ${executionArn}\n`);
          await follow(session, executionArn, Number(options.timeout));
        });
      },
    );

  program
    .command('watch')
    .description('follow an execution live until it ends')
    .argument('<execution-arn>')
    .option('--timeout <seconds>', 'stop following after this long', String(DEFAULT_WATCH_SECONDS))
    .action(async (executionArn: string, options: { timeout: string }) => {
      await withSession(program, undefined, async (session) => {
        await follow(session, executionArn, Number(options.timeout));
      });
    });

  program
    .command('abort')
    .description('stop an execution; the recovery it triggers then runs, and is followed')
    .argument('<execution-arn>')
    .option('--no-watch', 'do not follow the recovery')
    .option('--timeout <seconds>', 'how long to wait for and follow the recovery', '1800')
    .action(async (executionArn: string, options: { watch: boolean; timeout: string }) => {
      await withSession(program, undefined, async (session) => {
        const before = await describeExecution(session.sfn, executionArn);
        if (before.status !== 'RUNNING') throw new CliError(`${executionArn} is not running (${before.status})`);
        const stoppedAt = (await stopExecution(session.sfn, executionArn, 'Stopped with zerodown abort')) ?? new Date();
        if (!json()) out(`stopped ${executionArn}\n`);
        if (!options.watch) {
          if (json()) printJson({ executionArn, stoppedAt });
          return;
        }
        const cluster = clusterOfExecution(before.input);
        const recover = await findRecovery(session, cluster, stoppedAt, Number(options.timeout) * 1000);
        if (!recover) throw new CliError(`No recover execution of cluster "${cluster}" started after the stop`);
        if (!json()) out(`recovery: ${recover}\n`);
        const result = await watchExecution(session.sfn, recover, watchOptions(json(), Number(options.timeout)));
        if (json()) printJson({ executionArn, stoppedAt, recovery: result });
        setExitCode(exitCodeOf(result.status));
      });
    });

  program
    .command('history')
    .description("the cluster's recent executions, newest first")
    .argument('<cluster>')
    .option('--limit <count>', 'at most this many', '20')
    .action(async (cluster: string, options: { limit: string }) => {
      const executions = await withSession(program, cluster, async (session) => {
        const machines = await clusterStateMachines(session.sfn, cluster);
        if (machines.length === 0) throw new CliError(`No state machines of cluster "${cluster}" in ${session.target}`);
        return (await recentExecutions(session.sfn, machines, { perWorkflow: Number(options.limit) })).slice(
          0,
          Number(options.limit),
        );
      });
      if (json()) printJson(executions);
      else {
        for (const execution of executions) {
          const took =
            execution.stopDate && execution.startDate
              ? ` in ${((execution.stopDate.getTime() - execution.startDate.getTime()) / 1000).toFixed(0)}s`
              : '';
          out(
            `${execution.startDate?.toISOString() ?? '-'}  ${execution.workflow.padEnd(15)} ${(execution.status ?? '').padEnd(9)}${took}  ${execution.executionArn}\n`,
          );
        }
        if (executions.length === 0) out('no executions\n');
      }
    });

  // zerodown report <execution-arn> [--out file]: cli/report-command.ts.
  registerReportCommand(program, { out, printJson });

  program
    .command('recover')
    .description('put the cluster back in a safe state after an execution that died (starts the recover workflow)')
    .argument('<cluster>')
    .option('--watch', 'follow it until it ends')
    .action(async (cluster: string, options: { watch?: boolean }) => {
      await withSession(program, cluster, async (session) => {
        const arn = await stateMachineOf(session.sfn, cluster, 'recover');
        const executionArn = await startExecution(session.sfn, arn, { cluster }, executionNameFor('recover'));
        if (!options.watch) {
          if (json()) printJson({ executionArn });
          else out(`started recover on ${cluster}: ${executionArn}\n`);
          return;
        }
        await follow(session, executionArn, 1800);
      });
    });

  program
    .command('preflight')
    .description('check a deployed cluster: documents, nodes, tags, agents, heartbeats, launch template, listeners')
    .argument('<cluster>')
    .action(async (cluster: string) => {
      const checks = await withSession(program, cluster, (session) => runPreflight(session, cluster));
      if (json()) printJson(checks);
      else {
        for (const check of checks) out(`${check.ok ? 'ok  ' : 'FAIL'} ${check.check}: ${check.detail}\n`);
        const failed = checks.filter((check) => !check.ok).length;
        out(failed === 0 ? 'every check passed\n' : `${failed} of ${checks.length} checks failed\n`);
      }
      setExitCode(checks.every((check) => check.ok) ? 0 : 1);
    });

  program
    .command('validate')
    .description('check a cluster model file, as synthesis does')
    .argument('<model.json>')
    .action((file: string) => {
      let document: unknown;
      try {
        document = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (error) {
        throw new CliError(`${file}: ${(error as Error).message}`, 2);
      }
      const model = parseClusterModel(document, `cluster model in ${file}`);
      checkCommandSources(model, `cluster model in ${file}`);
      if (json()) printJson({ valid: true, cluster: model.name });
      else out(`${file}: a valid model of cluster "${model.name}" (${model.topology}, ${model.nodes.length} nodes)\n`);
    });

  program
    .command('schema')
    .description('print the JSON Schema of the cluster model, for editors')
    .action(() => printJson(clusterModelJsonSchema()));

  const sandbox = program.command('sandbox').description('the sandbox: a local twin of AWS with real traffic');
  sandbox
    .command('run')
    .description('run a scenario and write its report; exits 1 when an expectation does not hold')
    .requiredOption('--scenario <file>', 'the scenario')
    .option('--report <file>', 'where to write the JSON report')
    .option('--quiet', 'no progress lines')
    .option('--work-dir <dir>', 'where the run keeps its scratch files')
    .action(async (options: { scenario: string; report?: string; quiet?: boolean; workDir?: string }) => {
      setExitCode(await (await sandboxCommands()).runSandboxScenario(options));
    });
  sandbox
    .command('up')
    .description('keep a sandbox cluster running for the CLI until Ctrl-C')
    .option('--scenario <file>', 'the cluster, load and faults', 'sandbox/scenarios/demo.json')
    .option('--quiet', 'no progress lines')
    .option('--work-dir <dir>', 'where the sandbox keeps its scratch files')
    .option('--handle-file <file>', 'where to leave the endpoint for the CLI')
    .action(async (options: { scenario: string; quiet?: boolean; workDir?: string; handleFile?: string }) => {
      setExitCode(await (await sandboxCommands()).serveSandboxCommand(options));
    });

  for (const command of program.commands) command.exitOverride();
  for (const command of sandbox.commands) command.exitOverride();
  return program;
}

/** Where the sandbox commands live; a variable, so that the built library neither compiles nor ships them. */
const SANDBOX_COMMANDS_MODULE = './sandbox-commands';

/**
 * The sandbox commands, loaded when one runs. They run in a clone of the repository, whose development dependencies
 * (moto's runner, aws-local-stepfunctions) an installed package does not carry.
 */
async function sandboxCommands(): Promise<SandboxCommands> {
  try {
    return (await import(SANDBOX_COMMANDS_MODULE)) as SandboxCommands;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new CliError(
      'The sandbox runs from a clone of the zerodown repository after `npm ci`; the installed package has no sandbox',
      2,
    );
  }
}

/** The cluster an execution ran on, from its input. */
function clusterOfExecution(input: string | undefined): string {
  try {
    const cluster = (JSON.parse(input ?? '{}') as { cluster?: unknown }).cluster;
    if (typeof cluster === 'string') return cluster;
  } catch {
    // reported below
  }
  throw new CliError('The execution names no cluster in its input');
}

/** The recover execution the stop triggers: the stack's rule starts it on the status change, within a minute. */
async function findRecovery(session: Session, cluster: string, after: Date, timeoutMs: number) {
  const arn = await stateMachineOf(session.sfn, cluster, 'recover');
  const deadline = Date.now() + Math.min(timeoutMs, 120_000);
  while (Date.now() < deadline) {
    const [latest] = await recentExecutions(
      session.sfn,
      [{ workflow: 'recover', name: 'recover', stateMachineArn: arn }],
      {
        perWorkflow: 5,
      },
    );
    if (latest?.executionArn && latest.startDate && latest.startDate.getTime() >= after.getTime() - 1000) {
      return latest.executionArn;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return undefined;
}

/** The plan's steps, numbered, with the healthy capacity predicted at each. */
function planLines(workflow: WorkflowName, cluster: string, output: unknown): string[] {
  let steps: { step?: string; action?: string; predictedServing?: number; ifNodeLost?: string }[] = [];
  let order: string | undefined;
  const visit = (value: unknown, depth: number) => {
    if (steps.length > 0 || !value || typeof value !== 'object' || depth > 5) return;
    const candidate = (value as { steps?: unknown }).steps;
    if (Array.isArray(candidate) && candidate.every((step) => step && typeof step === 'object' && 'step' in step)) {
      steps = candidate;
      const why = (value as { order?: unknown }).order;
      if (typeof why === 'string') order = why;
      return;
    }
    for (const child of Object.values(value)) visit(child, depth + 1);
  };
  visit(output, 0);
  if (steps.length === 0) return [`${workflow} on ${cluster}: the dry run returned no plan`, JSON.stringify(output)];
  return [
    `${workflow} on ${cluster} (${WORKFLOWS[workflow].summary}):`,
    ...(order ? [order] : []),
    ...steps.map(
      (step, index) =>
        `${String(index + 1).padStart(2)}. ${step.step}: ${step.action ?? ''}` +
        (step.predictedServing !== undefined ? ` [${step.predictedServing} serving]` : '') +
        (step.ifNodeLost ? `\n      if a node is lost: ${step.ifNodeLost}` : ''),
    ),
  ];
}

/** One line for an error: what it is and why, never a stack trace. */
export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ZeroDownError) {
    // Their messages name every bad field already.
    const usage = ['InputValidationError', 'ClusterModelError'].includes(error.name);
    return { message: `${error.name}: ${error.message}`, exitCode: usage ? 2 : 1 };
  }
  const named = error as { name?: string; message?: string };
  return { message: `${named.name ?? 'Error'}: ${(named.message ?? String(error)).split('\n')[0]}`, exitCode: 1 };
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version print and succeed; usage errors were printed by commander in one line.
      return error.exitCode === 0 ? 0 : 2;
    }
    const { message, exitCode: code } = describeError(error);
    process.stderr.write(`zerodown: ${message}\n`);
    return code;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`zerodown: ${describeError(error).message}\n`);
      process.exit(1);
    },
  );
}
