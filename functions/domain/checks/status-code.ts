import type { HttpCondition } from './check';

/** The node answered, with the status the check expects. */
export const statusCode: HttpCondition = {
  id: 'status-code',
  evaluate: ({ check, probe }) => {
    if (probe.error) return `no answer from ${probe.url}: ${probe.error}`;
    return probe.status === check.expectedStatus
      ? undefined
      : `expected HTTP ${check.expectedStatus}, got ${probe.status}`;
  },
};
