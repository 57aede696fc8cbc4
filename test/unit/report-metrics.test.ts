import { emitMetrics } from '../../functions/aws/metrics';
import { parseClusterModel } from '../../functions/domain/cluster-model';
import { failoverMetrics, shiftMetrics } from '../../functions/operations/report-metrics';
import type { ShiftResult } from '../../functions/operations/shift-traffic';
import { testClusterModel } from '../harness/test-app';

describe('metrics in the embedded metric format', () => {
  /** Loads the metrics module afresh with the environment set as Lambda sets it, and captures what it writes. */
  function inLambda(run: (emit: typeof emitMetrics) => void): Record<string, unknown>[] {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'zerodown-apim-prod-shift-traffic';
    try {
      jest.isolateModules(() => {
        const module = require('../../functions/aws/metrics') as typeof import('../../functions/aws/metrics');
        run(module.emitMetrics);
      });
    } finally {
      if (saved === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
      write.mockRestore();
    }
    return lines.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line));
  }

  it('writes one line CloudWatch turns into metrics: namespace, dimensions, units and values', () => {
    const lines = inLambda((emit) =>
      emit({ Cluster: 'apim-prod', Slot: 'a' }, [{ name: 'SlotWeight', value: 100, unit: 'None' }]),
    );
    expect(lines).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'ZeroDown',
              Dimensions: [['service', 'Cluster', 'Slot']],
              Metrics: [{ Name: 'SlotWeight', Unit: 'None' }],
            },
          ],
        },
        service: 'zerodown',
        Cluster: 'apim-prod',
        Slot: 'a',
        SlotWeight: 100,
      },
    ]);
  });

  it('keeps each set of dimensions to its own line', () => {
    const lines = inLambda((emit) => {
      emit({ Cluster: 'apim-prod', Slot: 'a' }, [{ name: 'SlotWeight', value: 0, unit: 'None' }]);
      emit({ Cluster: 'apim-prod' }, [{ name: 'HealthyServingNodes', value: 2, unit: 'Count' }]);
    });
    expect(
      lines.map(
        (line) => (line._aws as { CloudWatchMetrics: { Dimensions: unknown }[] }).CloudWatchMetrics[0]?.Dimensions,
      ),
    ).toEqual([[['service', 'Cluster', 'Slot']], [['service', 'Cluster']]]);
    expect(lines[1]).not.toHaveProperty('Slot');
  });

  it('writes nothing outside Lambda, where the handlers run in the sandbox or a test', () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const saved = process.env.AWS_LAMBDA_FUNCTION_NAME;
    delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    try {
      emitMetrics({ Cluster: 'apim-prod' }, [{ name: 'HealthyServingNodes', value: 2, unit: 'Count' }]);
      expect(write).not.toHaveBeenCalled();
    } finally {
      if (saved !== undefined) process.env.AWS_LAMBDA_FUNCTION_NAME = saved;
      write.mockRestore();
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
