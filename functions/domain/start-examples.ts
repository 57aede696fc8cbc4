import type { ClusterModel } from './cluster-model';
import { nodeAlarmName } from './recheck';
import type { ClusterWorkflow } from './workflows';

/**
 * The smallest input each of a cluster's workflows accepts, for the start commands its stack outputs. Every
 * operator value is a placeholder that its own pattern accepts, spelled so no one takes it for a real one; the tests
 * parse each example with the workflow's real input schema, so an example cannot drift from what the workflow takes.
 */
export const START_PLACEHOLDERS = {
  patchId: 'PATCH-ID',
  version: 'VERSION',
  // A bucket name takes lower case only.
  artifact: 's3://my-bucket/my-service.war',
  service: 'my-service',
  // The alarm rule sends CloudWatch's event time; failover only reports it.
  detectedAt: 'YYYY-MM-DDThh:mm:ssZ',
} as const;

export type StartInput = Readonly<Record<string, string>>;

/**
 * The example input of each workflow of the cluster. failover's names the first slot and that slot's alarm, as the
 * alarm rule would; a cluster without slots has no node alarm, and no failover example either.
 */
export function startExamples(
  model: Pick<ClusterModel, 'name' | 'nodes'>,
): Partial<Record<ClusterWorkflow, StartInput>> {
  const cluster = model.name;
  const slot = model.nodes.find((node) => node.slot !== undefined)?.slot;
  return {
    'patch-server': { cluster, patchId: START_PLACEHOLDERS.patchId },
    'upgrade-version': { cluster, version: START_PLACEHOLDERS.version },
    'deploy-service': { cluster, artifact: START_PLACEHOLDERS.artifact, service: START_PLACEHOLDERS.service },
    'update-service': { cluster, artifact: START_PLACEHOLDERS.artifact, service: START_PLACEHOLDERS.service },
    ...(slot === undefined
      ? {}
      : {
          failover: {
            cluster,
            slot,
            alarmName: nodeAlarmName(cluster, slot),
            detectedAt: START_PLACEHOLDERS.detectedAt,
          },
        }),
    recover: { cluster },
  };
}

/**
 * The AWS CLI command that starts an execution with this input. Every value of an example matches a pattern without
 * quotes, so the JSON sits inside single quotes as it is.
 */
export function startExecutionCommand(stateMachineArn: string, input: StartInput): string {
  return `aws stepfunctions start-execution --state-machine-arn ${stateMachineArn} --input '${JSON.stringify(input)}'`;
}
