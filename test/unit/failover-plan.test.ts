import { parseClusterModel } from '../../functions/domain/cluster-model';
import { applyMembership, EMPTY_MEMBERSHIP, recordReplacement } from '../../functions/domain/membership';
import { moveShare, restoredWeights } from '../../functions/domain/weights';
import { testClusterModel } from '../harness/test-app';

const model = (topology: 'active-active' | 'active-passive') => parseClusterModel({ ...testClusterModel(), topology });
const slotWeights = (weights: Record<string, number>) =>
  Object.entries(weights).map(([slot, weight]) => ({ slot, targetGroupArn: `tg-${slot}`, weight }));

describe('failover weights', () => {
  it('gives the lost slot’s whole share to the passive node', () => {
    expect(moveShare(slotWeights({ a: 100, b: 0, surge: 0 }), 'a', [{ slot: 'b' }])).toEqual({
      a: 0,
      b: 100,
      surge: 0,
    });
  });

  it('splits the share among survivors and leaves a serving surge slot as it is', () => {
    expect(moveShare(slotWeights({ a: 50, b: 50, surge: 50 }), 'a', [{ slot: 'b' }])).toEqual({
      a: 0,
      b: 100,
      surge: 50,
    });
  });

  it('moves nothing when the lost node carried no traffic (a lost passive node)', () => {
    expect(moveShare(slotWeights({ a: 100, b: 0, surge: 0 }), 'b', [{ slot: 'a' }])).toEqual({
      a: 100,
      b: 0,
      surge: 0,
    });
  });

  it('restores active/passive with the survivor active and the replacement passive', () => {
    expect(restoredWeights(model('active-passive'), { a: 0, b: 100, surge: 0 }, 'a')).toEqual({
      a: 0,
      b: 100,
      surge: 0,
    });
  });

  it('restores active/active with every permanent slot serving and the surge slot empty', () => {
    expect(restoredWeights(model('active-active'), { a: 0, b: 100, surge: 50 }, 'a')).toEqual({
      a: 75,
      b: 75,
      surge: 0,
    });
  });
});

describe('membership', () => {
  const base = model('active-passive');
  const [first] = base.nodes;
  const lost = first?.instanceId ?? '';

  it('puts the replacement in the lost node’s place', () => {
    const membership = recordReplacement(EMPTY_MEMBERSHIP, {
      slot: 'a',
      lost,
      replacement: 'i-0aaaaaaaaaaaaaaa1',
      at: 't',
    });

    expect(applyMembership(base, membership).nodes[0]).toEqual({ ...first, instanceId: 'i-0aaaaaaaaaaaaaaa1' });
  });

  it('follows a slot through several replacements, and records the same one once', () => {
    const once = recordReplacement(EMPTY_MEMBERSHIP, { slot: 'a', lost, replacement: 'i-0aaaaaaaaaaaaaaa1', at: 't1' });
    const again = recordReplacement(once, { slot: 'a', lost, replacement: 'i-0aaaaaaaaaaaaaaa1', at: 't2' });
    const twice = recordReplacement(again, {
      slot: 'a',
      lost: 'i-0aaaaaaaaaaaaaaa1',
      replacement: 'i-0aaaaaaaaaaaaaaa2',
      at: 't3',
    });

    expect(again).toBe(once);
    expect(twice.slots.a?.replaced).toEqual([lost, 'i-0aaaaaaaaaaaaaaa1']);
    expect(applyMembership(base, twice).nodes[0]?.instanceId).toBe('i-0aaaaaaaaaaaaaaa2');
  });

  it('lets the model win once the operator names another instance for the slot', () => {
    const membership = recordReplacement(EMPTY_MEMBERSHIP, {
      slot: 'a',
      lost,
      replacement: 'i-0aaaaaaaaaaaaaaa1',
      at: 't',
    });
    const redeployed = {
      ...base,
      nodes: base.nodes.map((node, i) => (i === 0 ? { ...node, instanceId: 'i-0bbbbbbbbbbbbbbb1' } : node)),
    };

    expect(applyMembership(redeployed, membership)).toBe(redeployed);
  });
});
