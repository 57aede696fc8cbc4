import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { GetDocumentCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsErrorResponse, type SendCommandRequest } from './gateway';

/**
 * The SSM agent of every sandbox node: it runs the shell script of the document a command names, with the
 * command's parameters checked against the document's `allowedPattern` and substituted as SSM does, and reports
 * Pending / InProgress / Success / Failed / TimedOut with the real exit code and output.
 */

export interface AgentOptions {
  /** moto, directly: where the documents are. */
  readonly ssm: SSMClient;
  /** The node's URL for the control script, or undefined when the instance has no running node. */
  readonly nodeUrlOf: (instanceId: string) => string | undefined;
  /** Whether the instance's agent is online (its node process runs). */
  readonly isOnline: (instanceId: string) => boolean;
}

interface Invocation {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  status: 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
  responseCode: number;
  stdout: string;
  stderr: string;
  readonly requestedAt: Date;
  /** When the command ended on the instance, whatever its status. */
  endedAt?: Date;
  child?: ChildProcess;
}

interface DocumentContent {
  readonly parameters?: Record<string, { allowedPattern?: string; default?: string }>;
  readonly mainSteps?: { action?: string; inputs?: { runCommand?: string[] } }[];
}

/** Where `zerodown-node` is found: the control script the documents call, on the node as on EC2. */
const SHIM_DIR = path.join(__dirname, 'bin');
const OUTPUT_LIMIT = 24_000;

export class SandboxAgent {
  private readonly invocations = new Map<string, Invocation>();
  /** Commands that must fail (the `fail-command` fault), matched by document and instance. */
  private readonly failures: { documentName?: string; instanceId?: string; remaining: number }[] = [];

  constructor(private readonly options: AgentOptions) {}

  /** Every command run so far on each instance: from its request to its end (Date.now(); none while it runs). */
  commandWindows(): { instanceId: string; documentName: string; from: number; to?: number }[] {
    return [...this.invocations.values()].map((invocation) => ({
      instanceId: invocation.instanceId,
      documentName: invocation.documentName,
      from: invocation.requestedAt.getTime(),
      ...(invocation.endedAt ? { to: invocation.endedAt.getTime() } : {}),
    }));
  }

  failNext(match: { documentName?: string; instanceId?: string }, times = 1): void {
    this.failures.push({ ...match, remaining: times });
  }

  commandSent(commandId: string, request: SendCommandRequest): void {
    for (const instanceId of request.InstanceIds ?? []) {
      const invocation: Invocation = {
        commandId,
        instanceId,
        documentName: request.DocumentName ?? '',
        status: 'Pending',
        responseCode: -1,
        stdout: '',
        stderr: '',
        requestedAt: new Date(),
      };
      this.invocations.set(`${commandId}/${instanceId}`, invocation);
      void this.run(invocation, request)
        .catch((error: unknown) => {
          invocation.status = 'Failed';
          invocation.stderr += `\n${error instanceof Error ? error.message : String(error)}`;
        })
        .finally(() => {
          invocation.endedAt = new Date();
        });
    }
  }

  private async run(invocation: Invocation, request: SendCommandRequest): Promise<void> {
    const failure = this.failures.find(
      (entry) =>
        entry.remaining > 0 &&
        (!entry.documentName || entry.documentName === invocation.documentName) &&
        (!entry.instanceId || entry.instanceId === invocation.instanceId),
    );
    if (failure) {
      failure.remaining--;
      Object.assign(invocation, { status: 'Failed', responseCode: 1, stderr: 'injected failure (fail-command fault)' });
      return;
    }
    const nodeUrl = this.options.nodeUrlOf(invocation.instanceId);
    if (!nodeUrl || !this.options.isOnline(invocation.instanceId)) {
      Object.assign(invocation, { status: 'Failed', responseCode: 1, stderr: 'the instance is not running' });
      return;
    }
    const document = await this.options.ssm.send(
      new GetDocumentCommand({ Name: invocation.documentName, DocumentVersion: request.DocumentVersion }),
    );
    const script = renderScript(JSON.parse(document.Content ?? '{}') as DocumentContent, request.Parameters ?? {});
    invocation.status = 'InProgress';
    const child = spawn('/bin/sh', ['-c', script], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        PATH: `${SHIM_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
        ZERODOWN_NODE_URL: nodeUrl,
        ZERODOWN_NODE_BIN: process.execPath,
        ZERODOWN_TSX_LOADER: pathToFileURL(require.resolve('tsx')).href,
        ZERODOWN_CONTROL: path.join(__dirname, 'node', 'control.ts'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    invocation.child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      invocation.stdout = (invocation.stdout + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      invocation.stderr = (invocation.stderr + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    });
    const timeoutMs = (request.TimeoutSeconds ?? 3600) * 1000;
    const timer = setTimeout(() => {
      invocation.status = 'TimedOut';
      child.kill('SIGKILL');
    }, timeoutMs);
    const code = await new Promise<number>((resolve) => child.on('close', (exitCode) => resolve(exitCode ?? 1)));
    clearTimeout(timer);
    invocation.child = undefined;
    invocation.responseCode = code;
    if (invocation.status === 'InProgress') invocation.status = code === 0 ? 'Success' : 'Failed';
  }

  /** Answers the SSM reads moto cannot: command invocations and the agents' ping status. */
  read(operation: string, request: Record<string, unknown>): Record<string, unknown> | undefined {
    if (operation === 'GetCommandInvocation') {
      const invocation = this.invocations.get(`${String(request.CommandId)}/${String(request.InstanceId)}`);
      if (!invocation) throw new AwsErrorResponse('InvocationDoesNotExist', 'No such command invocation');
      return describeInvocation(invocation);
    }
    if (operation === 'ListCommandInvocations') {
      const list = [...this.invocations.values()].filter(
        (invocation) =>
          (!request.CommandId || invocation.commandId === request.CommandId) &&
          (!request.InstanceId || invocation.instanceId === request.InstanceId),
      );
      return {
        CommandInvocations: list.map((invocation) => ({
          CommandId: invocation.commandId,
          InstanceId: invocation.instanceId,
          DocumentName: invocation.documentName,
          Status: invocation.status,
          StatusDetails: invocation.status,
          RequestedDateTime: invocation.requestedAt.getTime() / 1000,
        })),
      };
    }
    if (operation === 'DescribeInstanceInformation') {
      const filters = (request.Filters as { Key?: string; Values?: string[] }[] | undefined) ?? [];
      const ids = filters.find((filter) => filter.Key === 'InstanceIds')?.Values ?? [];
      return {
        InstanceInformationList: ids
          .filter((id) => this.options.nodeUrlOf(id))
          .map((id) => ({
            InstanceId: id,
            PingStatus: this.options.isOnline(id) ? 'Online' : 'ConnectionLost',
            PlatformType: 'Linux',
          })),
      };
    }
    return undefined;
  }

  /** Ends the scripts still running, for a clean shutdown. */
  stop(): void {
    for (const invocation of this.invocations.values()) invocation.child?.kill('SIGKILL');
  }
}

function describeInvocation(invocation: Invocation) {
  return {
    CommandId: invocation.commandId,
    InstanceId: invocation.instanceId,
    DocumentName: invocation.documentName,
    Status: invocation.status,
    StatusDetails: invocation.status,
    ResponseCode: invocation.responseCode,
    StandardOutputContent: invocation.stdout,
    StandardErrorContent: invocation.stderr,
  };
}

/**
 * The document's shell script with the parameters in place. A value that does not match its `allowedPattern`, or a
 * parameter the document does not declare, is refused as SSM refuses it: nothing runs.
 */
export function renderScript(document: DocumentContent, parameters: Record<string, string[]>): string {
  const declared = document.parameters ?? {};
  const values: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const value = parameters[name]?.[0] ?? spec.default;
    if (value === undefined) throw new Error(`Parameter ${name} is required`);
    if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value)) {
      throw new Error(`Parameter ${name} does not match its allowed pattern`);
    }
    values[name] = value;
  }
  for (const name of Object.keys(parameters)) {
    if (!(name in declared)) throw new Error(`Parameter ${name} is not declared by the document`);
  }
  const lines = (document.mainSteps ?? []).flatMap((step) =>
    step.action === 'aws:runShellScript' ? (step.inputs?.runCommand ?? []) : [],
  );
  return lines
    .join('\n')
    .replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => (name in values ? (values[name] ?? '') : whole));
}
