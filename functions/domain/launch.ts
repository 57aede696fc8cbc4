import { createHash } from 'node:crypto';

/** What every launch of a surge or DR node shares: the ClientToken that keeps a retried launch single. */

/** EC2's ClientToken: at most 64 characters, the same for every retry of one launch. */
export function clientTokenFor(launch: string): string {
  return createHash('sha256').update(launch).digest('hex').slice(0, 64);
}
