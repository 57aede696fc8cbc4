import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../cdk/paths';
import { isWorkflowName, WORKFLOW_METADATA_KEY, WORKFLOWS, type WorkflowName } from '../functions/domain/workflows';
import { type AslDefinition, type AslState, stateMachinesIn } from './asl';
import { buildLocalApp, localClusterModel } from './local-app';
import { readCloudAssembly } from './synth';

/**
 * Mermaid diagrams of the workflows, drawn from the synthesized state machines, so the picture in the docs is the
 * machine that deploys. `npm run docs:diagrams` writes docs/diagrams/<workflow>.md; a test fails when one is stale.
 */

export const DIAGRAMS_DIR = path.join(PROJECT_ROOT, 'docs', 'diagrams');

/** Mermaid node ids: the state's position, since state names carry characters Mermaid will not take in an id. */
function idsOf(definition: AslDefinition, prefix = 's'): Map<string, string> {
  const ids = new Map<string, string>();
  for (const [index, name] of Object.keys(definition.States).entries()) ids.set(name, `${prefix}${index}`);
  return ids;
}

/** A label Mermaid shows as written: quotes and brackets become their HTML entities. */
function label(text: string): string {
  return `"${text.replace(/"/g, '#quot;').replace(/\[/g, '#91;').replace(/\]/g, '#93;')}"`;
}

function shapeOf(id: string, name: string, state: AslState): string {
  switch (state.Type) {
    case 'Choice':
      return `${id}{${label(name)}}`;
    case 'Succeed':
    case 'Fail':
      return `${id}([${label(name)}])`;
    case 'Wait':
      return `${id}[/${label(name)}/]`;
    case 'Pass':
      return `${id}(${label(name)})`;
    default:
      return `${id}[${label(name)}]`;
  }
}

function linesOf(definition: AslDefinition, prefix: string, indent: string): string[] {
  const ids = idsOf(definition, prefix);
  const id = (name: string) => ids.get(name) ?? name;
  const lines: string[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    const nested = state.Iterator ?? state.ItemProcessor;
    if (nested) {
      lines.push(`${indent}subgraph ${id(name)}[${label(name)}]`);
      lines.push(...linesOf(nested, `${id(name)}_`, `${indent}  `));
      lines.push(`${indent}end`);
    } else {
      lines.push(`${indent}${shapeOf(id(name), name, state)}`);
    }
  }
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Next) lines.push(`${indent}${id(name)} --> ${id(state.Next)}`);
    for (const choice of state.Choices ?? []) {
      if (typeof choice.Next === 'string') lines.push(`${indent}${id(name)} --> ${id(choice.Next)}`);
    }
    if (state.Default) lines.push(`${indent}${id(name)} -->|otherwise| ${id(state.Default)}`);
    for (const catcher of state.Catch ?? []) {
      lines.push(`${indent}${id(name)} -.->|${label(catcher.ErrorEquals.join(', '))}| ${id(catcher.Next)}`);
    }
  }
  return lines;
}

/** The Mermaid flowchart of a state machine: tasks as boxes, choices as diamonds, catches as dotted arrows. */
export function mermaidOf(definition: AslDefinition): string {
  const start = idsOf(definition).get(definition.StartAt) ?? '';
  return ['flowchart TD', '  start((start))', `  start --> ${start}`, ...linesOf(definition, 's', '  ')].join('\n');
}

/** The page of one workflow's diagram, as docs/diagrams/<workflow>.md holds it. */
export function diagramPage(workflow: WorkflowName, definition: AslDefinition): string {
  return [
    `# ${workflow}: the state machine`,
    '',
    `${WORKFLOWS[workflow].summary[0]?.toUpperCase()}${WORKFLOWS[workflow].summary.slice(1)}. Drawn from the`,
    'synthesized state machine by `npm run docs:diagrams`; a test fails when this page and the machine disagree.',
    'Boxes are Lambda tasks, rounded boxes bookkeeping steps, diamonds choices, slanted boxes waits; dotted arrows',
    'are the errors a state catches.',
    '',
    '```mermaid',
    mermaidOf(definition),
    '```',
    '',
  ].join('\n');
}

/** Every workflow's diagram page, from a synthesis of the local cluster (a DR site included). */
export function diagramPages(outdir: string): Map<WorkflowName, string> {
  buildLocalApp(outdir, [localClusterModel()]).synth();
  const pages = new Map<WorkflowName, string>();
  for (const stack of readCloudAssembly(outdir).stacks) {
    for (const machine of stateMachinesIn(stack.template, stack.env)) {
      const workflow = stack.template.Resources[machine.logicalId]?.Metadata?.[WORKFLOW_METADATA_KEY];
      if (typeof workflow === 'string' && isWorkflowName(workflow)) {
        pages.set(workflow, diagramPage(workflow, machine.definition));
      }
    }
  }
  return pages;
}

if (require.main === module) {
  const outdir = fs.mkdtempSync(path.join(PROJECT_ROOT, '.cache', 'diagrams-'));
  try {
    fs.mkdirSync(DIAGRAMS_DIR, { recursive: true });
    for (const [workflow, page] of diagramPages(outdir)) {
      fs.writeFileSync(path.join(DIAGRAMS_DIR, `${workflow}.md`), page);
      process.stdout.write(`docs/diagrams/${workflow}.md\n`);
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
