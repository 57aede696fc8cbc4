import type { DeployPlan } from '../../functions/domain/plans/deploy-service';
import type { RolloutPlan } from '../../functions/domain/plans/rollout';
import type { UpdatePlan } from '../../functions/domain/plans/update-service';

/**
 * JSONPaths into the plan a workflow keeps at `$.plan`, checked by the compiler against the plan's type: a path the
 * planner does not produce does not compile. Fragments shared by several workflows check against any plan.
 */

export type AnyPlan = RolloutPlan | DeployPlan | UpdatePlan;

type Leaf = string | number | boolean | null | undefined;
/** Keys of any member of a union. */
type KeysOf<T> = T extends unknown ? Exclude<keyof T, symbol | number> : never;
/** The type at a key, in the members of a union that have it. */
type At<T, K> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;

/** Every path of keys into T, down to four levels; arrays end a path (the state machines never index them). */
export type PlanKeys<T, Depth extends 0[] = []> = Depth['length'] extends 4
  ? never
  : NonNullable<T> extends Leaf | readonly unknown[]
    ? never
    : {
        [K in KeysOf<NonNullable<T>>]: [K] | [K, ...PlanKeys<At<NonNullable<T>, K>, [...Depth, 0]>];
      }[KeysOf<NonNullable<T>>];

/** `planPath<RolloutPlan>('shifts', 'toFirst')` is `$.plan.shifts.toFirst`. */
export function planPath<Plan = AnyPlan>(...keys: PlanKeys<Plan>): string {
  return `$.plan.${keys.join('.')}`;
}
