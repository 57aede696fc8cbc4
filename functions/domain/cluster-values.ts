/**
 * The values a node command receives from the cluster itself rather than from an operator: `reconfigure` passes the
 * members' and the manager's private IPv4 addresses, worked out when it runs, since a replacement node comes with a
 * new address. As with operator values (operator-values.ts), one pattern per value serves the run-command operation,
 * which checks a value before it sends anything, and the node kit's document, whose `allowedPattern` SSM checks
 * before the node runs anything. Neither pattern admits a quote, a space or any other shell syntax.
 */

/** Every member's address travels in one document parameter; a weighted cluster has at most 4 permanent nodes. */
export const MAX_RECONFIGURE_MEMBERS = 5;

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;

export const CLUSTER_VALUE_PATTERNS = {
  /** Comma-separated, no spaces, at most MAX_RECONFIGURE_MEMBERS. */
  members: new RegExp(`^${IPV4}(,${IPV4}){0,${MAX_RECONFIGURE_MEMBERS - 1}}$`),
  manager: new RegExp(`^${IPV4}$`),
} as const;

export type ClusterValue = keyof typeof CLUSTER_VALUE_PATTERNS;

export const CLUSTER_VALUE_DESCRIPTIONS: Readonly<Record<ClusterValue, string>> = {
  members: `1 to ${MAX_RECONFIGURE_MEMBERS} private IPv4 addresses, separated by commas`,
  manager: 'a private IPv4 address',
};

/**
 * The document parameter that receives each value. Fixed names, so a document of the user's own takes them as the
 * kit's does: a `reconfigure` document has the parameters `Members` and `Manager`.
 */
export const CLUSTER_VALUE_PARAMETERS: Readonly<Record<ClusterValue, string>> = {
  members: 'Members',
  manager: 'Manager',
};

export type ClusterValues = Readonly<Record<ClusterValue, string>>;

/** The values that fail their pattern, as field issues' messages by value. */
export function invalidClusterValues(values: Partial<Record<ClusterValue, string>>): [ClusterValue, string][] {
  return (Object.keys(CLUSTER_VALUE_PATTERNS) as ClusterValue[]).flatMap((value): [ClusterValue, string][] => {
    const given = values[value];
    return given !== undefined && CLUSTER_VALUE_PATTERNS[value].test(given)
      ? []
      : [[value, `must be ${CLUSTER_VALUE_DESCRIPTIONS[value]} (got ${JSON.stringify(given ?? null)})`]];
  });
}
