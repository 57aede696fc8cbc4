import type { HttpCheck } from '../cluster-model';
import type { HttpProbe } from '../probe';

export interface CheckResult {
  /** The check's name from the cluster model, or "target health". */
  readonly check: string;
  readonly passed: boolean;
  readonly detail: string;
}

export interface HttpCheckContext {
  readonly check: HttpCheck;
  readonly probe: HttpProbe;
  /** The version the workflow is rolling out, when there is one. */
  readonly expectedVersion?: string;
}

/** One condition on an HTTP answer. It returns a failure detail, or undefined when the condition holds. */
export interface HttpCondition {
  readonly id: string;
  evaluate(context: HttpCheckContext): string | undefined;
}
