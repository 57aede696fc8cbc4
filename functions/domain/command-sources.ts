import { type ClusterModel, COMMAND_KINDS, NODE_KIT_COMMAND_KINDS } from './cluster-model';
import { MAX_RECONFIGURE_MEMBERS } from './cluster-values';
import { ClusterModelError, type FieldIssue } from './errors';

/**
 * Where each command of a model as written gets its document: the node kit's (`"kit": "node"`, whose name, version
 * and parameters the kit sets), or one of the user's own, pinned to a version. Checked when a model is read for
 * synthesis; the model the stack stores names every document, so the functions that read it need none of this.
 */
export function commandSourceIssues(model: ClusterModel): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const kind of COMMAND_KINDS) {
    const command = model.commands[kind];
    if (!command) continue;
    const path = `commands.${kind}`;
    if (kind === 'reconfigure' && model.nodes.length > MAX_RECONFIGURE_MEMBERS) {
      issues.push({
        path,
        message: `passes every member's address, at most ${MAX_RECONFIGURE_MEMBERS}; the cluster has ${model.nodes.length} nodes`,
      });
    }
    if (command.kit) {
      if (!(NODE_KIT_COMMAND_KINDS as readonly string[]).includes(kind)) {
        issues.push({
          path: `${path}.kit`,
          message: `has no ${kind} document in the node kit; name a document of your own`,
        });
      }
      for (const field of ['documentName', 'documentVersion', 'inputParameter'] as const) {
        if (command[field] !== undefined) {
          issues.push({ path: `${path}.${field}`, message: 'is set by the node kit; remove it or the kit' });
        }
      }
      if (Object.keys(command.parameters).length > 0) {
        issues.push({ path: `${path}.parameters`, message: 'are set by the node kit; remove them or the kit' });
      }
    } else if (command.documentName === undefined) {
      issues.push({
        path,
        message: 'must name a document (documentName and documentVersion) or use the node kit ("kit": "node")',
      });
    } else if (command.documentVersion === undefined) {
      issues.push({
        path: `${path}.documentVersion`,
        message: 'is required: a command runs a pinned document version',
      });
    }
  }
  return issues;
}

/** Throws `ClusterModelError` naming every command whose document is not given as `commandSourceIssues` wants. */
export function checkCommandSources(model: ClusterModel, source = 'cluster model'): void {
  const issues = commandSourceIssues(model);
  if (issues.length > 0) throw new ClusterModelError(`Invalid ${source} "${model.name}"`, issues);
}
