import { guardCapacity, requiredServing } from '../../functions/domain/capacity';
import { CapacityGuardError } from '../../functions/domain/errors';
import { planShift } from '../../functions/domain/plans/shift-stages';

const group = (name: string, before: number, after: number, healthy = true) => ({
  name,
  weightBefore: before,
  weightAfter: after,
  healthyInstances: healthy ? [`i-${name}`] : [],
});

describe('capacity guard', () => {
  it('needs ceil(minHealthyPercent of the baseline) nodes', () => {
    expect(requiredServing(2, 75)).toBe(2);
    expect(requiredServing(1, 75)).toBe(1);
    expect(requiredServing(4, 75)).toBe(3);
    expect(requiredServing(4, 50)).toBe(2);
  });

  it('lets an active/passive cluster move its traffic to a healthy passive node', () => {
    expect(guardCapacity([group('a', 100, 0), group('b', 0, 100)], 75, 1)).toMatchObject({
      servingAfter: 1,
      requiredServing: 1,
      removesTraffic: true,
    });
  });

  it('refuses to take one of two active nodes out without a surge node', () => {
    expect(() => guardCapacity([group('a', 50, 0), group('b', 50, 100), group('surge', 0, 0)], 75, 2)).toThrow(
      CapacityGuardError,
    );
  });

  it('allows it once the surge node serves', () => {
    expect(guardCapacity([group('a', 50, 0), group('b', 50, 50), group('surge', 50, 50)], 75, 2).servingAfter).toBe(2);
  });

  it('refuses to send traffic to a group with no healthy target, even without removing any', () => {
    expect(() => guardCapacity([group('a', 100, 100), group('surge', 0, 50, false)], 75, 1)).toThrow(
      'Refusing to send traffic to surge: no healthy target',
    );
  });

  it('does not count an unhealthy node that keeps its weight', () => {
    expect(() => guardCapacity([group('a', 50, 50, false), group('b', 50, 0)], 75, 2)).toThrow(
      '0 healthy node(s) would keep serving, but 2 are needed',
    );
  });

  it('measures against the baseline, not against what serves mid-change', () => {
    // Half-way through a gradual shift both nodes serve; going back to one is what the snapshot had.
    expect(() => guardCapacity([group('a', 90, 100), group('b', 10, 0)], 75)).toThrow(CapacityGuardError);
    expect(guardCapacity([group('a', 90, 100), group('b', 10, 0)], 75, 1).servingAfter).toBe(1);
  });
});

describe('planShift', () => {
  const options = { steps: [10, 50, 100], bakeSeconds: 60, alarms: ['apim-5xx'] };

  it('moves the weights in stages of the whole move, exact at the last stage', () => {
    const plan = planShift({ a: 100, b: 0, surge: 0 }, { a: 0, b: 100 }, options, 30);
    expect(plan.stages.map((stage) => stage.weights)).toEqual([
      { a: 90, b: 10, surge: 0 },
      { a: 50, b: 50, surge: 0 },
      { a: 0, b: 100, surge: 0 },
    ]);
    expect(plan.stages.every((stage) => stage.bakeSeconds === 60 && stage.alarms[0] === 'apim-5xx')).toBe(true);
    expect(plan.drainSeconds).toBe(30);
  });

  it('asks for no drain when the move only adds traffic', () => {
    const plan = planShift({ a: 50, b: 50, surge: 0 }, { surge: 50 }, { steps: [100], bakeSeconds: 0, alarms: [] }, 30);
    expect(plan).toEqual({
      stages: [{ weights: { a: 50, b: 50, surge: 50 }, bakeSeconds: 0, alarms: [] }],
      target: { a: 50, b: 50, surge: 50 },
      drainSeconds: 0,
    });
  });
});
