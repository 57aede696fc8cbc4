import type { HttpCondition } from './check';

/** The body names the version the workflow rolls out (only for checks with `expectVersion` and a known version). */
export const expectedVersion: HttpCondition = {
  id: 'expected-version',
  evaluate: ({ check, probe, expectedVersion: version }) => {
    if (!check.expectVersion || version === undefined) return undefined;
    return probe.body?.includes(version)
      ? undefined
      : `expected version ${version}, got "${probe.body?.trim().slice(0, 80)}"`;
  },
};
