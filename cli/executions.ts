import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { stateMachineNameOf, WORKFLOW_NAMES, type WorkflowName } from '../functions/domain/workflows';

/** A failure the CLI reports in one line, with its exit code: 1 for a failed operation, 2 for bad usage or input. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ClusterStateMachine {
  readonly workflow: WorkflowName;
  readonly name: string;
  readonly stateMachineArn: string;
}

/** The cluster's state machines, found by their names (`zerodown-<cluster>-<workflow>`). */
export async function clusterStateMachines(sfn: SFNClient, cluster: string): Promise<ClusterStateMachine[]> {
  const wanted = new Map(WORKFLOW_NAMES.map((workflow) => [stateMachineNameOf(cluster, workflow), workflow]));
  const found: ClusterStateMachine[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand({ ...(nextToken ? { nextToken } : {}) }));
    for (const machine of page.stateMachines ?? []) {
      const workflow = machine.name ? wanted.get(machine.name) : undefined;
      if (workflow && machine.stateMachineArn) {
        found.push({ workflow, name: machine.name ?? '', stateMachineArn: machine.stateMachineArn });
      }
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return found;
}

export async function stateMachineOf(sfn: SFNClient, cluster: string, workflow: WorkflowName): Promise<string> {
  const machine = (await clusterStateMachines(sfn, cluster)).find((candidate) => candidate.workflow === workflow);
  if (!machine) {
    throw new CliError(
      `No state machine ${stateMachineNameOf(cluster, workflow)}: is cluster "${cluster}" deployed in this account and region?`,
    );
  }
  return machine.stateMachineArn;
}

export async function startExecution(
  sfn: SFNClient,
  stateMachineArn: string,
  input: Record<string, unknown>,
  name: string,
): Promise<string> {
  const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
  if (!started.executionArn) throw new CliError('StartExecution returned no execution ARN');
  return started.executionArn;
}

export async function describeExecution(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  return sfn.send(new DescribeExecutionCommand({ executionArn }));
}

/**
 * The events after `lastEventId`, oldest first. Read newest first and only as far back as the last event already seen,
 * so following a long run costs one small page a poll rather than its whole history.
 */
export async function historySince(sfn: SFNClient, executionArn: string, lastEventId: number): Promise<HistoryEvent[]> {
  const fresh: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn,
        reverseOrder: true,
        maxResults: NEWEST_EVENTS_PAGE,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const event of page.events ?? []) {
      if ((event.id ?? 0) <= lastEventId) return fresh.reverse();
      fresh.push(event);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return fresh.reverse();
}

/** Events a poll reads at a time: more than a step adds in a second, so one page is the usual cost. */
const NEWEST_EVENTS_PAGE = 100;

export async function stopExecution(sfn: SFNClient, executionArn: string, cause: string): Promise<Date | undefined> {
  return (await sfn.send(new StopExecutionCommand({ executionArn, error: 'zerodown.Aborted', cause }))).stopDate;
}

/** The most recent executions of each of the cluster's state machines, newest first. */
export async function recentExecutions(
  sfn: SFNClient,
  machines: readonly ClusterStateMachine[],
  options: { perWorkflow?: number; status?: 'RUNNING' } = {},
): Promise<(ExecutionListItem & { workflow: WorkflowName })[]> {
  const lists = await Promise.all(
    machines.map(async (machine) => {
      const page = await sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: machine.stateMachineArn,
          maxResults: options.perWorkflow ?? 10,
          ...(options.status ? { statusFilter: options.status } : {}),
        }),
      );
      return (page.executions ?? []).map((execution) => ({ ...execution, workflow: machine.workflow }));
    }),
  );
  return lists.flat().sort((a, b) => (b.startDate?.getTime() ?? 0) - (a.startDate?.getTime() ?? 0));
}

/** An execution name the operator can read back: the workflow and the start time, unique to the millisecond. */
export function executionNameFor(workflow: WorkflowName, now = new Date()): string {
  return `${workflow}-${now.toISOString().replace(/[:.]/g, '-')}`.slice(0, 80);
}
