import type { HttpCondition } from './check';

/** The body contains the text the check names. */
export const bodyText: HttpCondition = {
  id: 'body-text',
  evaluate: ({ check, probe }) =>
    check.bodyContains === undefined || probe.body?.includes(check.bodyContains)
      ? undefined
      : `body does not contain "${check.bodyContains}"`,
};
