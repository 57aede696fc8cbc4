import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { gatherExecutionEvidence } from '../report/fetch-execution';
import { renderHtmlReport } from '../report/html';
import { CliError } from './executions';
import { openSession, type SessionOptions } from './session';

/**
 * `zerodown report <execution-arn> [--out <file>]`: the self-contained HTML report of one execution, on AWS or in a
 * sandbox, from its history and the cluster's metrics (report/fetch-execution.ts), drawn as a sandbox run's report
 * is (report/html.ts). Prints the file's path, or `{ "file" }` with --json.
 */

/** `arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>`: a Standard workflow's execution. */
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:execution:[^:\s]+:[^:\s]+$/;

interface ReportOutput {
  readonly out: (text: string) => void;
  readonly printJson: (value: unknown) => void;
}

export function registerReportCommand(program: Command, output: ReportOutput): void {
  program
    .command('report')
    .description("write an execution's self-contained HTML report: its states, weights, nodes and metrics on one axis")
    .argument('<execution-arn>')
    .option('--out <file>', 'where to write it (default: report-<execution name>.html here)')
    .action(async (executionArn: string, options: { out?: string }) => {
      const globals = program.opts<SessionOptions & { json?: boolean }>();
      const file = await writeExecutionReport(executionArn, {
        ...globals,
        ...(options.out ? { out: options.out } : {}),
      });
      if (globals.json) output.printJson({ file });
      else output.out(`${file}\n`);
    });
}

/** Gathers the execution's evidence, renders it and writes the file; answers the file's path. */
export async function writeExecutionReport(
  executionArn: string,
  options: SessionOptions & { json?: boolean; out?: string },
): Promise<string> {
  const match = EXECUTION_ARN.exec(executionArn);
  if (!match) {
    throw new CliError(
      `"${executionArn}" is not an execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)`,
      2,
    );
  }
  // The execution's own region, unless told otherwise: a report is asked for by the ARN an operator has in hand.
  const region = options.region ?? (options.endpoint || process.env.ZERODOWN_ENDPOINT ? undefined : match[1]);
  const session = openSession({ ...options, ...(region ? { region } : {}) });
  if (session.target !== 'AWS' && !options.endpoint && !process.env.ZERODOWN_ENDPOINT && !options.json) {
    process.stderr.write(`using the sandbox at ${session.target}\n`);
  }
  let evidence: Awaited<ReturnType<typeof gatherExecutionEvidence>>;
  try {
    evidence = await gatherExecutionEvidence({ sfn: session.sfn, cloudwatch: session.cloudwatch }, executionArn);
  } catch (error) {
    if ((error as { name?: string }).name === 'ExecutionDoesNotExist') {
      throw new CliError(`No execution ${executionArn} in ${session.target}: ExecutionDoesNotExist`);
    }
    throw error;
  }
  const name = executionArn.split(':')[7] ?? 'execution';
  const file = path.resolve(options.out ?? `report-${name.replace(/[^A-Za-z0-9._-]/g, '_')}.html`);
  try {
    fs.writeFileSync(file, renderHtmlReport(evidence));
  } catch (error) {
    throw new CliError(`--out ${file}: ${(error as Error).message}`);
  }
  return file;
}
