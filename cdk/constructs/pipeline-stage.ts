import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import type * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { ConfigurationError } from '../../functions/domain/errors';
import { parseInput } from '../../functions/domain/input';
import { deployRequestSchema } from '../../functions/domain/plans/deploy-service';
import { patchRequestSchema, upgradeRequestSchema } from '../../functions/domain/plans/rollout';
import { updateRequestSchema } from '../../functions/domain/plans/update-service';
import {
  MAINTENANCE_WORKFLOWS,
  type MaintenanceWorkflow,
  stateMachineNameOf,
  WORKFLOWS,
} from '../../functions/domain/workflows';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from '../nag';
import type { ZeroDownCluster } from './zerodown-cluster';

/**
 * A zerodown stage in CodePipeline: the Step Functions invoke action starts one maintenance workflow of a cluster and
 * waits for it. The action fails when the execution ends FAILED, TIMED_OUT or ABORTED, and every zerodown workflow
 * ends FAILED after its rollback, so a rolled-back workflow fails the stage.
 */

/** Where a stage's execution input is read from in the build output, unless the build's input says otherwise. */
export const ZERODOWN_INPUT_FILE = 'zerodown-input.json';

/** The prefix of the execution names a stage starts: `pipeline-<action execution id>`. */
export const DEFAULT_EXECUTION_NAME_PREFIX = 'pipeline';

/**
 * Execution names are at most 80 characters, and the action appends a hyphen and its 36-character action execution
 * id. The lock and every handler accept an execution ARN only when its name is letters, digits, `_`, `.` and `-`;
 * these are also the only characters an Express machine's name may hold.
 */
const EXECUTION_NAME_PREFIX = /^[A-Za-z0-9_-]{1,43}$/;

/** The request each maintenance workflow validates first: a literal or a build's input is checked against it. */
const REQUEST_SCHEMAS = {
  'patch-server': patchRequestSchema,
  'upgrade-version': upgradeRequestSchema,
  'deploy-service': deployRequestSchema,
  'update-service': updateRequestSchema,
} satisfies Record<MaintenanceWorkflow, unknown>;

/**
 * The execution input a build writes: the fields known when the pipeline is defined, and the fields only the build
 * knows (the artifact it uploaded, the version it built), each read from one of the build's environment variables.
 */
export interface BuildInputSpec {
  readonly workflow: MaintenanceWorkflow;
  readonly cluster: string;
  /** Fields fixed when the pipeline is defined: a service name, an `exposeRule`, a staged `shift`. @default none */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** Text fields the build sets, each from an environment variable of the build: `{ artifact: 'ARTIFACT_URI' }`. */
  readonly fromVariables: Readonly<Record<string, string>>;
  /** The file the build writes, relative to its output artifact's root. @default ZERODOWN_INPUT_FILE */
  readonly file?: string;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A relative path inside the build output, without `..`, spaces or characters a shell would read. */
const INPUT_FILE = /^(?!.*(?:^|\/)\.\.(?:\/|$))[\w.-]+(?:\/[\w.-]+)*\.json$/;

/** Values of each operator value's kind, to check at synthesis that the workflow accepts what the build will write. */
const SAMPLE_VALUES: Readonly<Record<string, string>> = {
  artifact: 's3://example-artifacts/example/1.0.0/example.zip',
  version: '1.0.0',
  patchId: 'EXAMPLE-PATCH-1',
  service: 'example',
};

/**
 * The execution input the build writes when its environment holds `environment`: the cluster, the fixed fields,
 * then each variable's value. The command `writeBuildInputCommand` prints is this function's output, rendered by the
 * build's shell, so a test can run a workflow with exactly what a pipeline sends.
 */
export function buildExecutionInput(
  spec: BuildInputSpec,
  environment: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  return {
    cluster: spec.cluster,
    ...spec.fields,
    ...Object.fromEntries(
      Object.entries(spec.fromVariables).map(([field, variable]) => [field, environment[variable]]),
    ),
  };
}

/** The file a build input spec writes. */
export function buildInputFile(spec: BuildInputSpec): string {
  return spec.file ?? ZERODOWN_INPUT_FILE;
}

/**
 * Refuses, at synthesis, a build input the workflow could never accept: a field it does not take, a value of the
 * wrong kind, a variable name a shell cannot expand. The values the build fills in are checked again by the
 * workflow's first state, which fails the execution (and the stage) before touching anything.
 */
export function checkBuildInputSpec(spec: BuildInputSpec): void {
  const issues = [
    ...Object.entries(spec.fromVariables).flatMap(([field, variable]) => [
      ...(VARIABLE_NAME.test(variable) ? [] : [{ path: `fromVariables.${field}`, message: 'must be a variable name' }]),
      ...(field === 'cluster' || (spec.fields && field in spec.fields)
        ? [{ path: `fromVariables.${field}`, message: 'is also a fixed field' }]
        : []),
    ]),
    ...(INPUT_FILE.test(buildInputFile(spec))
      ? []
      : [{ path: 'file', message: 'must be a relative path to a .json file of letters, digits and ._-' }]),
  ];
  if (issues.length > 0) {
    throw new ConfigurationError(
      `Invalid build input for ${spec.workflow}: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}`,
    );
  }
  const samples = Object.fromEntries(
    Object.entries(spec.fromVariables).map(([field, variable]) => [variable, SAMPLE_VALUES[field] ?? 'example']),
  );
  parseInput(REQUEST_SCHEMAS[spec.workflow], buildExecutionInput(spec, samples), `${spec.workflow} from a build`);
}

/** A single-quoted shell word. */
function shellQuoted(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell command a build runs to write its execution input. It stops the build when a variable is unset or holds
 * a quote, a backslash or a control character: each value goes into the JSON as it is, so these would make it
 * invalid. The workflow validates the rest (its first state refuses a malformed artifact or version).
 */
export function writeBuildInputCommand(spec: BuildInputSpec): string {
  checkBuildInputSpec(spec);
  const marker = (variable: string) => `@@zerodown:${variable}@@`;
  const json = JSON.stringify(
    buildExecutionInput(
      spec,
      Object.fromEntries(Object.values(spec.fromVariables).map((variable) => [variable, marker(variable)])),
    ),
  );
  // The JSON with each marker replaced by the variable's expansion, between single-quoted runs of fixed text.
  const word = json
    .split(/@@zerodown:([A-Za-z_][A-Za-z0-9_]*)@@/)
    .map((part, index) => (index % 2 === 1 ? `"$${part}"` : shellQuoted(part)))
    .join('');
  const guards = Object.values(spec.fromVariables).map(
    (variable) =>
      `case "$${variable}" in ''|*'"'*|*'\\'*|*[[:cntrl:]]*) ` +
      `echo "zerodown: ${variable} must be set, without quotes, backslashes or control characters" >&2; exit 1;; esac`,
  );
  return [...guards, `printf '%s\\n' ${word} > ${shellQuoted(buildInputFile(spec))}`].join('; ');
}

/** What a zerodown stage starts its workflow with. */
export abstract class ZeroDownStageInput {
  /**
   * The file the build wrote (see `writeBuildInputCommand`) in its output artifact: the action reads it and starts
   * the execution with its contents.
   */
  static fromBuildOutput(buildOutput: codepipeline.Artifact, spec: BuildInputSpec): ZeroDownStageInput {
    checkBuildInputSpec(spec);
    return new (class extends ZeroDownStageInput {
      bind(workflow: MaintenanceWorkflow, cluster: string) {
        mustMatch(spec.workflow, workflow, 'the build input is for workflow');
        mustMatch(spec.cluster, cluster, 'the build input is for cluster');
        return actions.StateMachineInput.filePath(buildOutput.atPath(buildInputFile(spec)));
      }
    })();
  }

  /**
   * A request fixed when the pipeline is defined, for a workflow that takes no build artifact (patch-server with a
   * patch id). It is checked against the workflow's schema at synthesis; `cluster` defaults to the stage's cluster.
   */
  static literal(request: Readonly<Record<string, unknown>>): ZeroDownStageInput {
    return new (class extends ZeroDownStageInput {
      bind(workflow: MaintenanceWorkflow, cluster: string) {
        const input = { cluster, ...request };
        mustMatch(String(input.cluster), cluster, 'the literal input is for cluster');
        parseInput(REQUEST_SCHEMAS[workflow], input, `${workflow} in a pipeline stage`);
        return actions.StateMachineInput.literal(input);
      }
    })();
  }

  /**
   * The action's input for a stage that runs `workflow` on `cluster`. It refuses, at synthesis, an input that workflow
   * would refuse.
   */
  abstract bind(workflow: MaintenanceWorkflow, cluster: string): actions.StateMachineInput;
}

function mustMatch(actual: string, expected: string, what: string): void {
  if (actual !== expected) throw new ConfigurationError(`A zerodown stage for ${expected}: ${what} ${actual}`);
}

export interface ZeroDownStageProps {
  /** The pipeline stage's name. */
  readonly stageName: string;
  /** The cluster whose workflow the stage runs, in the pipeline's region. */
  readonly cluster: ZeroDownCluster;
  readonly workflow: MaintenanceWorkflow;
  readonly input: ZeroDownStageInput;
  /**
   * Execution names are `<prefix>-<action execution id>`: one name per action execution, so a start the action
   * repeats finds the same execution rather than starting a second one. @default DEFAULT_EXECUTION_NAME_PREFIX
   */
  readonly executionNamePrefix?: string;
  /** @default - after the last stage */
  readonly placement?: codepipeline.StagePlacement;
}

export interface ZeroDownStage {
  readonly stage: codepipeline.IStage;
  readonly action: actions.StepFunctionInvokeAction;
  /** The role the action runs with: start this workflow, read its executions and the input artifact. */
  readonly role: iam.IRole;
}

/**
 * Adds a stage that runs one maintenance workflow of a zerodown cluster. The action's role may start that one state
 * machine and describe its executions named with the stage's prefix (and read the build output, when the input comes
 * from it): the action grants exactly that itself.
 */
export function addZeroDownStage(pipeline: codepipeline.Pipeline, props: ZeroDownStageProps): ZeroDownStage {
  const { cluster, workflow } = props;
  if (!MAINTENANCE_WORKFLOWS.includes(workflow)) {
    throw new ConfigurationError(`A zerodown stage runs a maintenance workflow, not ${workflow}`);
  }
  const prefix = props.executionNamePrefix ?? DEFAULT_EXECUTION_NAME_PREFIX;
  if (!EXECUTION_NAME_PREFIX.test(prefix)) {
    throw new ConfigurationError(
      `executionNamePrefix "${prefix}" must be 1 to 43 letters, digits, _ and -: the action execution id follows it`,
    );
  }
  const clusterName = cluster.model.name;
  const pipelineStack = Stack.of(pipeline);
  if (!Token.isUnresolved(pipelineStack.region) && pipelineStack.region !== cluster.model.region) {
    throw new ConfigurationError(
      `A zerodown stage for ${clusterName} must be in its region ${cluster.model.region}, not ${pipelineStack.region}`,
    );
  }
  const stateMachineInput = props.input.bind(workflow, clusterName);

  const stateMachine = stateMachineFor(pipeline, cluster, workflow);
  const action = new actions.StepFunctionInvokeAction({
    actionName: `zerodown-${workflow}`,
    stateMachine,
    stateMachineInput,
    executionNamePrefix: prefix,
  });
  const stage = pipeline.addStage({
    stageName: props.stageName,
    actions: [action],
    ...(props.placement ? { placement: props.placement } : {}),
  });
  // The action's own role, unless the pipeline runs every action with its own role (usePipelineRoleForActions).
  const actionRole = pipeline.node
    .tryFindChild(props.stageName)
    ?.node.tryFindChild(action.actionProperties.actionName)
    ?.node.tryFindChild('CodePipelineActionRole');
  const role = actionRole instanceof iam.Role ? actionRole : pipeline.role;

  // The action grants these itself; each is as narrow as the action can make it.
  acknowledgeWildcardResource(
    role,
    Stack.of(stateMachine).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineNameOf(clusterName, workflow)}:${prefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
    `The action polls DescribeExecution on the executions it starts, whose names are ${prefix}- and its own id.`,
  );
  if (stateMachineInput.inputArtifact) {
    acknowledgeWildcardResource(
      role,
      `${pipeline.artifactBucket.bucketArn}/*`,
      "The action reads its input file from the pipeline's artifact bucket, whose object keys each run chooses.",
    );
    for (const readAction of ['s3:GetObject*', 's3:GetBucket*', 's3:List*']) {
      acknowledgeWildcardAction(
        role,
        readAction,
        "The read grant CodePipeline actions get on the pipeline's own artifact bucket, and on no other bucket.",
      );
    }
  }
  return { stage, action, role };
}

/**
 * The cluster's state machine, by the name the cluster's stack gives it: the action's grants then name it exactly,
 * and a pipeline in another stack takes no export from the cluster's stack, which stays free to change. The pipeline
 * deploys after the state machine.
 */
function stateMachineFor(
  pipeline: codepipeline.Pipeline,
  cluster: ZeroDownCluster,
  workflow: MaintenanceWorkflow,
): sfn.IStateMachine {
  pipeline.node.addDependency(cluster.workflows.byName[workflow]);
  const id = `ZeroDown${WORKFLOWS[workflow].constructId}`;
  const existing = pipeline.node.tryFindChild(id);
  if (existing) return existing as sfn.IStateMachine;
  return sfn.StateMachine.fromStateMachineName(pipeline, id, stateMachineNameOf(cluster.model.name, workflow));
}
