import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CfnElement,
  CfnResource,
  type Duration,
  type IResolvable,
  RemovalPolicy,
  Stack,
  Token,
  Tokenization,
  Validations,
} from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  stateMachineNameOf,
  WORKFLOW_METADATA_KEY,
  WORKFLOWS,
  type WorkflowName,
} from '../../functions/domain/workflows';

/**
 * A zerodown workflow names the state machine (`zerodown-<cluster>-<workflow>`), gives its comment and marks it for
 * tools that read templates; any other state machine (a test's probe) gives its own comment.
 */
export type WorkflowStateMachineProps = StateMachineSettings &
  ({ readonly workflow: WorkflowName; readonly clusterName: string } | { readonly comment: string });

export interface StateMachineSettings {
  /** The workflow's first state, chained from the fragments in statemachines/. */
  readonly definition: sfn.IChainable;
  /** Where executions log, at ALL level with execution data. */
  readonly logGroup: logs.ILogGroup;
  /** An execution that runs longer fails with States.Timeout. */
  readonly timeout: Duration;
  /**
   * The functions the definition invokes. Step Functions' Lambda integration grants invoke on each one and on its
   * versions (`<arn>:*`); that wildcard is acknowledged to cdk-nag per function.
   * @default - none
   */
  readonly lambdaFunctions?: readonly lambda.IFunction[];
  /** @default RemovalPolicy.DESTROY: executions' history lives in the log group, which is retained */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A Standard, JSONPath state machine with the settings every zerodown workflow must have: a timeout, X-Ray tracing
 * and ALL-level logging.
 */
export class WorkflowStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowStateMachineProps) {
    super(scope, id);
    if (props.timeout.toSeconds() <= 0) throw new Error(`${id}: timeout must be positive`);
    const definition = new SubstitutedChainDefinitionBody(props.definition);
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      ...('workflow' in props
        ? {
            stateMachineName: stateMachineNameOf(props.clusterName, props.workflow),
            comment: `zerodown ${props.clusterName}: ${WORKFLOWS[props.workflow].summary}`,
          }
        : { comment: props.comment }),
      stateMachineType: sfn.StateMachineType.STANDARD,
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      definitionBody: definition,
      timeout: props.timeout,
      tracingEnabled: true,
      logs: { destination: props.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).definitionSubstitutions = definition.substitutions;
    // Tools that read templates (the local runner, the sandbox) find a workflow's state machine by this, not by
    // its construct path.
    const resource = this.stateMachine.node.defaultChild;
    if ('workflow' in props && resource instanceof CfnResource)
      resource.addMetadata(WORKFLOW_METADATA_KEY, props.workflow);

    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing and CloudWatch Logs vended-log delivery (logs:CreateLogDelivery and friends), which have no ' +
        'resource-level permissions.',
    });
    for (const fn of props.lambdaFunctions ?? []) {
      const resource = fn.node.defaultChild;
      if (!(resource instanceof CfnElement)) continue;
      Validations.of(this.stateMachine.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(fn).getLogicalId(resource)}.Arn>:*]`,
        reason: `Invoke on the versions of ${fn.node.path} only (<arn>:*), as granted by the Lambda integration.`,
      });
    }
  }
}

/**
 * The chained definition as ONE string, every reference to another resource (a function's ARN, a table's name) a
 * `${refN}` placeholder resolved by CloudFormation's DefinitionSubstitutions. CDK's own rendering joins the ASL around
 * each reference with Fn::Join, which costs a template a hundred bytes and more per reference. Even as plain strings,
 * the definitions of every workflow of a cluster made up most of its stack's template, at the edge of CloudFormation's
 * 1 MB limit; so the string goes to S3 as a file asset of the stack (`DefinitionS3Location`, keyed by its content hash,
 * so it changes exactly when the definition does), published to the CDK bootstrap's assets bucket like the Lambda
 * code, and the template keeps only its location and the substitutions. CloudFormation reads the file with the
 * deploying role: the state machine's role needs no access to it. The graph, its role's statements and its validation
 * are CDK's, as for any chain.
 */
class SubstitutedChainDefinitionBody extends sfn.ChainDefinitionBody {
  /** By placeholder, what CloudFormation puts in its place. */
  readonly substitutions: Record<string, string> = {};
  private readonly placeholders = new Map<string, string>();

  override bind(
    scope: Construct,
    _principal: iam.IPrincipal,
    props: sfn.StateMachineProps,
    graph: sfn.StateGraph,
  ): sfn.DefinitionConfig {
    const stack = Stack.of(scope);
    const document = {
      ...graph.toGraphJson(props.queryLanguage),
      Comment: props.comment,
      QueryLanguage: props.queryLanguage,
    };
    // What is left after the placeholders (JsonPath.DISCARD, which stands for null; numbers) resolves as CDK would.
    const definition = JSON.stringify(stack.resolve(this.withPlaceholders(stack, document)));
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-definition-'));
    const file = path.join(directory, 'definition.asl.json');
    fs.writeFileSync(file, definition);
    const asset = new Asset(scope, 'DefinitionBody', { path: file });
    // The asset has already copied the file into the cloud assembly, and names the copy by a path relative to it;
    // only with staging disabled (`cdk synth --no-staging`, for SAM's local tools) does it name this file, which must
    // then stay.
    if (!path.isAbsolute(asset.assetPath)) fs.rmSync(directory, { recursive: true, force: true });
    return { definitionS3Location: { bucket: asset.s3BucketName, key: asset.s3ObjectKey } };
  }

  private withPlaceholders(stack: Stack, value: unknown): unknown {
    if (typeof value === 'string') return Token.isUnresolved(value) ? this.placeholdersIn(stack, value) : value;
    if (Array.isArray(value)) return value.map((item) => this.withPlaceholders(stack, item));
    if (value && typeof value === 'object' && !Tokenization.isResolvable(value)) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.withPlaceholders(stack, item)]));
    }
    return value;
  }

  /**
   * The string with each token that stands for a reference (an intrinsic function) replaced by its placeholder; the
   * same reference always gets the same one. A token that resolves to a plain value keeps it, and a string that is
   * one token for something else than text (null, a number) is left whole for the last resolve.
   */
  private placeholdersIn(stack: Stack, value: string): string {
    const fragments = Tokenization.reverseString(value);
    const refers = (token: IResolvable) => {
      const resolved: unknown = stack.resolve(token);
      return typeof resolved === 'object' && resolved !== null;
    };
    const whole = fragments.length === 1 ? fragments.firstToken : undefined;
    if (whole && !refers(whole)) return value;
    return fragments
      .mapTokens({
        mapToken: (token: IResolvable) => {
          if (!refers(token)) return String(stack.resolve(token));
          const key = JSON.stringify(stack.resolve(token));
          let placeholder = this.placeholders.get(key);
          if (!placeholder) {
            placeholder = `ref${this.placeholders.size}`;
            this.placeholders.set(key, placeholder);
            this.substitutions[placeholder] = Token.asString(token);
          }
          return `\${${placeholder}}`;
        },
      })
      .join({ join: (left: unknown, right: unknown) => `${String(left)}${String(right)}` }) as string;
  }
}
