import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import aslValidator from 'asl-validator';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PROJECT_ROOT } from '../../cdk/paths';
import { WORKFLOW_METADATA_KEY } from '../../functions/domain/workflows';
import { stateMachinesIn } from '../../local/asl';
import { cfnLintCommand } from '../../local/python-tools';
import { type CfnTemplate, resourcesOfType } from '../../local/template';
import { checkWorkflowRules, knownErrorNames, WORKFLOW_RULES } from '../harness/asl-rules';
import { synthesizedApp } from '../harness/synth';
import { TEST_CLUSTER_STACK } from '../harness/test-app';

const app = synthesizedApp();
const stateMachines = app.stacks.flatMap((stack) =>
  stateMachinesIn(stack.template, stack.env).map((machine) => ({
    ...machine,
    name: `${stack.stackName}/${machine.logicalId}`,
    // The harness's probe raises errors of its own; the zerodown workflows raise only ErrorName's.
    rules: stack.template.Resources[machine.logicalId]?.Metadata?.[WORKFLOW_METADATA_KEY]
      ? WORKFLOW_RULES
      : WORKFLOW_RULES.filter((rule) => rule !== knownErrorNames),
  })),
);

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the synthesized app', () => {
    // Findings make synthesis throw, so reaching here already says most of it; the report says the rest.
    const report = JSON.parse(fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations ?? [])).toEqual([]);
  });

  it('gives a reason with every acknowledgement', () => {
    const acknowledgements = app.stacks.flatMap((stack) => {
      const metadata = JSON.parse(
        fs.readFileSync(path.join(app.outdir, `${stack.stackName}.metadata.json`), 'utf8'),
      ) as Record<string, { type: string; data: Record<string, string> }[]>;
      return Object.entries(metadata).flatMap(([constructPath, entries]) =>
        entries
          .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
          .flatMap((entry) => Object.entries(entry.data).map(([id, reason]) => ({ constructPath, id, reason }))),
      );
    });
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const acknowledgement of acknowledgements) {
      expect(acknowledgement.reason.trim().split(/\s+/).length).toBeGreaterThanOrEqual(8);
    }
  });

  it('is live: an SNS topic without TLS enforcement fails synthesis', () => {
    const probeApp = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(probeApp, 'NagCanary', { env: { region: 'us-east-1', account: '123456789012' } });
    new sns.Topic(stack, 'Plain');
    Validations.of(probeApp).addPlugins(new AwsSolutionsChecks(probeApp));
    expect(() => probeApp.synth()).toThrow(/AwsSolutions-SNS3/);
  });
});

describe('cfn-lint', () => {
  it('accepts every synthesized template', () => {
    // .cfnlintrc.yaml in the project root holds the settings, so this is what `npm run lint:cfn` runs. The state
    // machines' definitions are S3 assets, out of cfn-lint's sight: the ASL validator below checks each one.
    const files = app.stacks.map((stack) => stack.templateFile);
    const cfnLint = cfnLintCommand();
    const output = execFileSync(cfnLint.command, [...cfnLint.args, '--format', 'json', ...files], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(JSON.parse(output)).toEqual([]);
  });
});

describe('state machine definitions', () => {
  it('are found in the synthesized app', () => {
    expect(stateMachines.length).toBeGreaterThan(0);
  });

  it("are S3 assets of their stacks, which keeps each template well under CloudFormation's 1,000,000 bytes", () => {
    // The cluster stack's template, with the definitions in it, had come to 959 KB.
    let inS3 = 0;
    for (const stack of app.stacks) {
      const bytes = fs.statSync(stack.templateFile).size;
      expect({ stack: stack.stackName, underLimit: bytes < 600_000, bytes }).toEqual({
        stack: stack.stackName,
        underLimit: true,
        bytes,
      });
      const synthesized = JSON.parse(fs.readFileSync(stack.templateFile, 'utf8')) as CfnTemplate;
      for (const [logicalId, resource] of resourcesOfType(synthesized, 'AWS::StepFunctions::StateMachine')) {
        expect({ logicalId, inS3: resource.Properties?.DefinitionS3Location !== undefined }).toEqual({
          logicalId,
          inS3: true,
        });
        expect(resource.Properties?.DefinitionString).toBeUndefined();
        inS3++;
      }
    }
    expect(inS3).toBe(stateMachines.length);
    expect(app.stacks.map((stack) => stack.stackName)).toContain(TEST_CLUSTER_STACK);
  });

  it.each(stateMachines.map((machine) => [machine.name, machine]))('%s passes the ASL validator', (_name, machine) => {
    const result = aslValidator(machine.definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it.each(stateMachines.map((machine) => [machine.name, machine]))(
    '%s follows the workflow rules',
    (_name, machine) => {
      expect(checkWorkflowRules(machine.definition, machine.rules)).toEqual([]);
    },
  );
});
