import * as z from 'zod/mini';
import { alarmNameInput } from '../input';

/** The longest bake of a traffic stage: the lock's lease must outlast it (see lockLeaseSeconds). */
export const MAX_BAKE_SECONDS = 3600;

/**
 * Gradual traffic shifting: a move of traffic from one set of weights to another happens in stages (percentages of
 * the move), each followed by a bake time and a check of the operator's CloudWatch alarms.
 */
export const shiftOptionsSchema = z._default(
  z.strictObject({
    /** Percentages of the move, ascending, ending at 100, such as [10, 50, 100]. */
    steps: z.array(z.int().check(z.minimum(1), z.maximum(100))).check(
      z.minLength(1),
      z.maxLength(10),
      z.refine((steps) => steps.every((step, index) => index === 0 || step > (steps[index - 1] ?? 0)), 'must ascend'),
      z.refine((steps) => steps.at(-1) === 100, 'must end at 100'),
    ),
    /** How long each stage runs before the alarms are checked. */
    bakeSeconds: z._default(z.int().check(z.minimum(0), z.maximum(MAX_BAKE_SECONDS)), 0),
    /** CloudWatch alarms that roll the workflow back when in ALARM after a bake. */
    alarms: z._default(z.array(alarmNameInput).check(z.maxLength(20)), []),
  }),
  { steps: [100], bakeSeconds: 0, alarms: [] },
);
export type ShiftOptions = z.output<typeof shiftOptionsSchema>;

export type Weights = Readonly<Record<string, number>>;

export interface ShiftStage {
  readonly weights: Weights;
  readonly bakeSeconds: number;
  readonly alarms: readonly string[];
}

export interface ShiftPlan {
  readonly stages: ShiftStage[];
  /** The weights once the last stage is set: what a workflow that passed the move may roll forward to. */
  readonly target: Weights;
  /** Waited after the last stage when the move takes traffic away from a node. */
  readonly drainSeconds: number;
}

/** The stages that move traffic from `from` to `to` (slots not in `to` keep their weight). */
export function planShift(from: Weights, to: Weights, options: ShiftOptions, drainSeconds: number): ShiftPlan {
  const target = { ...from, ...to };
  const stages = options.steps.map((percent) => ({
    weights: Object.fromEntries(
      Object.entries(target).map(([slot, weight]) => {
        const start = from[slot] ?? 0;
        return [slot, percent === 100 ? weight : Math.round(start + ((weight - start) * percent) / 100)];
      }),
    ),
    bakeSeconds: options.bakeSeconds,
    alarms: options.alarms,
  }));
  const removesTraffic = Object.entries(target).some(([slot, weight]) => weight < (from[slot] ?? 0));
  return { stages, target, drainSeconds: removesTraffic ? drainSeconds : 0 };
}
