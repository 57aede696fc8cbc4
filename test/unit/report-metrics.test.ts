import { emitMetrics } from '../../functions/aws/metrics';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { failoverMetrics, shiftMetrics } from '../../functions/operations/report-metrics';
import type { ShiftResult } from '../../functions/operations/shift-traffic';
import { testClusterModel } from '../harness/test-app';

describe('metrics in the embedded metric format', () => {
  it('writes one line CloudWatch turns into metrics: namespace, dimensions, units and values', () => {
    const lines: string[] = [];
    emitMetrics({ Cluster: 'apim-prod', Slot: 'a' }, [{ name: 'SlotWeight', value: 100, unit: 'None' }], {
      now: 1_764_500_000_000,
      write: (line) => lines.push(line),
    });
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        _aws: {
          Timestamp: 1_764_500_000_000,
          CloudWatchMetrics: [
            {
              Namespace: 'ZeroDown',
              Dimensions: [['Cluster', 'Slot']],
              Metrics: [{ Name: 'SlotWeight', Unit: 'None' }],
            },
          ],
        },
        Cluster: 'apim-prod',
        Slot: 'a',
        SlotWeight: 100,
      },
    ]);
  });

  it('writes nothing outside Lambda, where the handlers run in the sandbox or a test', () => {
    const log = jest.spyOn(console, 'log').mockImplementation(() => {});
    const inLambda = process.env.AWS_LAMBDA_FUNCTION_NAME;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    try {
      emitMetrics({ Cluster: 'apim-prod' }, [{ name: 'HealthyServingNodes', value: 2, unit: 'Count' }]);
      expect(log).not.toHaveBeenCalled();
      process.env.AWS_LAMBDA_FUNCTION_NAME = 'zerodown-apim-prod-shift-traffic';
      emitMetrics({ Cluster: 'apim-prod' }, [{ name: 'HealthyServingNodes', value: 2, unit: 'Count' }]);
      expect(log).toHaveBeenCalledTimes(1);
    } finally {
      if (inLambda === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = inLambda;
      log.mockRestore();
    }
  });

  it('reports each slot weight and the healthy serving nodes after a shift', () => {
    const model = parseClusterModel(testClusterModel());
    const result = {
      weights: [
        { slot: 'a', targetGroupArn: 'arn-a', weight: 0 },
        { slot: 'b', targetGroupArn: 'arn-b', weight: 100 },
      ],
      capacity: { servingAfter: 1 },
    } as unknown as ShiftResult;
    expect(shiftMetrics(model, result)).toEqual([
      { dimensions: { Cluster: 'test-cluster', Slot: 'a' }, metrics: [{ name: 'SlotWeight', value: 0, unit: 'None' }] },
      {
        dimensions: { Cluster: 'test-cluster', Slot: 'b' },
        metrics: [{ name: 'SlotWeight', value: 100, unit: 'None' }],
      },
      { dimensions: { Cluster: 'test-cluster' }, metrics: [{ name: 'HealthyServingNodes', value: 1, unit: 'Count' }] },
    ]);
  });

  it("reports a failover's traffic move once moved, and its redundancy once restored", () => {
    const moved = { timeline: { detectedAt: '2026-11-30T04:00:00Z', trafficMovedAt: '2026-11-30T04:00:01.240Z' } };
    expect(failoverMetrics('apim-prod', 'failover', moved)).toEqual([
      {
        dimensions: { Cluster: 'apim-prod' },
        metrics: [{ name: 'FailoverTrafficMovedSeconds', value: 1.24, unit: 'Seconds' }],
      },
    ]);
    const restored = { timeline: { ...moved.timeline, redundancyRestoredAt: '2026-11-30T04:01:00Z' } };
    expect(failoverMetrics('apim-prod', 'failover', restored)).toEqual([
      {
        dimensions: { Cluster: 'apim-prod' },
        metrics: [{ name: 'FailoverRedundancyRestoredSeconds', value: 60, unit: 'Seconds' }],
      },
    ]);
    expect(failoverMetrics('apim-prod', 'patch-server', moved)).toEqual([]);
    expect(
      failoverMetrics('apim-prod', 'failover', { timeline: { detectedAt: 'not a time', trafficMovedAt: 'x' } }),
    ).toEqual([]);
  });
});
