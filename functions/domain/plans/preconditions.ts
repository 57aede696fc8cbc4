import { type ClusterModel, type CommandKind, reportsVersions } from '../cluster-model';
import { InputValidationError } from '../errors';
import type { ClusterSnapshot, NodeSnapshot } from '../snapshot';
import type { PlanNode } from './plan';
import type { Weights } from './shift-stages';

/**
 * What every planner checks before it plans, so a workflow the cluster cannot run fails with a named error before
 * anything is touched.
 */

type WeightedModel = ClusterModel & {
  traffic: Extract<ClusterModel['traffic'], { strategy: 'weighted-target-groups' }>;
};

/** Workflows that move traffic between nodes need one target group per node. */
export function requireWeightedTraffic(model: ClusterModel, workflow: string): asserts model is WeightedModel {
  if (model.traffic.strategy !== 'weighted-target-groups') {
    throw new InputValidationError(`Cannot plan ${workflow}`, [
      { path: 'traffic.strategy', message: `${workflow} needs the weighted-target-groups strategy` },
    ]);
  }
}

/** Every command the workflow will send must be defined in the cluster model; the error names each missing one. */
export function requireCommands(model: ClusterModel, workflow: string, kinds: readonly CommandKind[]): void {
  const missing = kinds.filter((kind) => !model.commands[kind]);
  if (missing.length > 0) {
    throw new InputValidationError(`Cluster "${model.name}" cannot run ${workflow}`, [
      ...missing.map((kind) => ({ path: `commands.${kind}`, message: 'is not defined in the cluster model' })),
    ]);
  }
}

/**
 * A request that names a version needs a way to check it: the model's version endpoint (`healthChecks.version`), or
 * an HTTP check that compares its body (`expectVersion`). Otherwise a node reporting another version would pass.
 */
export function requireVersionReporting(model: ClusterModel, expectedVersion: string | null): void {
  if (expectedVersion === null) return;
  if (reportsVersions(model)) return;
  throw new InputValidationError(`Cluster "${model.name}" cannot verify version ${expectedVersion}`, [
    {
      path: 'healthChecks.version',
      message: 'is not defined, and no HTTP check has expectVersion: define one, or leave version out of the request',
    },
  ]);
}

/** A workflow that takes a node out of service needs every node running and healthy first. */
export function requireHealthyNodes(model: ClusterModel, snapshot: ClusterSnapshot, what: string): void {
  const unhealthy = snapshot.nodes.filter((node) => node.state !== 'running' || node.targetHealth !== 'healthy');
  if (unhealthy.length > 0) {
    throw new InputValidationError(`Cluster "${model.name}" is not healthy enough to ${what}`, [
      ...unhealthy.map((node) => ({
        path: `nodes.${node.instanceId}`,
        message: `is ${node.state} with target ${node.targetHealth}; restore redundancy first`,
      })),
    ]);
  }
}

/** A node as a plan names it: with the slot its traffic weight is set on. */
export function planNode(node: NodeSnapshot, workflow: string): PlanNode {
  if (!node.slot) {
    throw new InputValidationError(`Cannot plan ${workflow}`, [
      { path: 'traffic.strategy', message: `${workflow} needs the weighted-target-groups strategy` },
    ]);
  }
  return { instanceId: node.instanceId, slot: node.slot, role: node.role };
}

/** The weights as the snapshot found them, by slot: what rollback restores. */
export function weightsOf(snapshot: ClusterSnapshot): Weights {
  return Object.fromEntries(snapshot.weights.map((entry) => [entry.slot, entry.weight]));
}
