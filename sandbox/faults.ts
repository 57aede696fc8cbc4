import type { ClusterModel } from '../functions/domain/cluster-model';
import type { SandboxAgent } from './agent';
import type { DataPlane } from './data-plane';
import type { Fleet } from './fleet';
import type { ScenarioStep } from './scenario';

/** The fault steps of a scenario, and where they strike: nodes, commands, health checks, boots. */

export type FaultStep = Extract<ScenarioStep, { fault: string }>;

export interface FaultTargets {
  readonly model: ClusterModel;
  readonly fleet: Fleet;
  readonly agent: SandboxAgent;
  readonly plane: DataPlane;
  readonly log: (line: string) => void;
  /** Logs a fault as it strikes, and keeps it for the run's timeline. */
  readonly faultStruck: (line: string, instanceId: string | undefined) => void;
  /** A `kill-node` or `hang-node` fault is about to take the instance's node out: the failover timeline's death. */
  readonly nodeKilled: (instanceId: string) => void;
  /** A `stop-heartbeat` fault: the node serves and answers its checks, but its heartbeat publisher is gone. */
  readonly heartbeatStopped: (instanceId: string) => void;
  /** The node's peer watch is gone: a `stop-peer-watch` fault, or the machine died. */
  readonly peerWatchStopped: (instanceId: string) => void;
  /** A `partition` fault is about to cut the nodes off from each other: the run waits for what their watches do. */
  readonly partitioned: () => void;
}

export class FaultInjector {
  /** Faults that strike the first time a workflow started by a step enters the named state; each strikes once. */
  private readonly atState: (FaultStep & { atState: string })[];

  constructor(
    steps: readonly ScenarioStep[],
    private readonly targets: FaultTargets,
  ) {
    this.atState = steps.filter(
      (step): step is FaultStep & { atState: string } => 'fault' in step && step.atState !== undefined,
    );
  }

  /**
   * A workflow started by a step entered a state: the faults waiting for that state strike. `stop` stops that
   * workflow, for an `abort` fault.
   */
  stateEntered(name: string, stop?: () => void): void {
    for (const fault of this.atState.filter((candidate) => candidate.atState === name)) {
      this.atState.splice(this.atState.indexOf(fault), 1);
      this.apply(fault, stop);
    }
  }

  apply(step: FaultStep, stop?: () => void): void {
    const { model, fleet, agent, plane, log } = this.targets;
    const target = resolveTarget(step.target, model, fleet);
    this.targets.faultStruck(`fault ${step.fault} on ${step.target} (${target ?? 'no such node'})`, target);
    switch (step.fault) {
      case 'kill-node':
        if (target) {
          this.targets.nodeKilled(target);
          this.targets.peerWatchStopped(target);
          void fleet.stop([target]);
        }
        break;
      case 'hang-node':
        if (target) {
          this.targets.nodeKilled(target);
          fleet.hang(target);
        }
        break;
      case 'partition':
        this.targets.partitioned();
        void fleet.partition(model.nodes.map((node) => node.instanceId)).catch((error: unknown) => {
          log(`partition: ${error instanceof Error ? error.message : String(error)}`);
        });
        break;
      case 'stop-peer-watch':
        if (target) this.targets.peerWatchStopped(target);
        break;
      case 'fail-command': {
        const documentName = step.command
          ? model.commands[step.command as keyof ClusterModel['commands']]?.documentName
          : undefined;
        agent.failNext({ ...(documentName ? { documentName } : {}), ...(target ? { instanceId: target } : {}) });
        break;
      }
      case 'unhealthy':
        if (target) void plane.call('forceUnhealthy', target).catch(() => undefined);
        break;
      case 'stop-heartbeat':
        if (target) this.targets.heartbeatStopped(target);
        break;
      case 'slow-boot':
        fleet.slowBoot(5);
        break;
      case 'abort':
        stop?.();
        break;
    }
  }
}

function resolveTarget(target: string, model: ClusterModel, fleet: Fleet): string | undefined {
  if (target.startsWith('i-')) return target;
  if (target === 'surge') return [...fleet.nodes.values()].find((node) => node.role === 'surge')?.instanceId;
  return model.nodes.find((node) => node.role === target)?.instanceId;
}
