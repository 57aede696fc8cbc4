import type { HttpCheck } from '../cluster-model';
import { httpGet, nodeUrl } from '../http-probe';
import type { TargetState } from '../traffic';
import { bodyText } from './body-text';
import type { CheckResult, HttpCondition } from './check';
import { expectedVersion } from './expected-version';
import { statusCode } from './status-code';

export type { CheckResult } from './check';

/** Evaluated in order; the first that fails explains the check's failure. */
export const HTTP_CONDITIONS: readonly HttpCondition[] = [statusCode, bodyText, expectedVersion];

export async function runHttpCheck(check: HttpCheck, host: string, version?: string): Promise<CheckResult> {
  const probe = await httpGet(nodeUrl(check.protocol, host, check.port, check.path), check.timeoutMs);
  const context = { check, probe, ...(version !== undefined ? { expectedVersion: version } : {}) };
  for (const condition of HTTP_CONDITIONS) {
    const failure = condition.evaluate(context);
    if (failure) return { check: check.name, passed: false, detail: failure };
  }
  return { check: check.name, passed: true, detail: `HTTP ${probe.status} in ${probe.elapsedMs} ms` };
}

/** The node's target is healthy in the target group the load balancer routes it through. */
export function targetHealthCheck(instanceId: string, targets: readonly TargetState[] | undefined): CheckResult {
  const target = targets?.find((candidate) => candidate.instanceId === instanceId);
  if (!target) return { check: 'target health', passed: false, detail: 'not registered in its target group' };
  return {
    check: 'target health',
    passed: target.state === 'healthy',
    detail: target.reason ? `${target.state} (${target.reason})` : target.state,
  };
}
