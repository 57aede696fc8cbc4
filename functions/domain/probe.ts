export interface HttpProbe {
  readonly url: string;
  readonly status?: number;
  /** The start of the body, enough for text and version checks. */
  readonly body?: string;
  readonly error?: string;
  readonly elapsedMs: number;
}

export function nodeUrl(protocol: 'http' | 'https', host: string, port: number, path: string): string {
  return `${protocol}://${host}:${port}${path}`;
}

/** A version endpoint may answer with plain text or with JSON carrying a `version` field. */
export function parseVersion(body: string | undefined): string | undefined {
  const text = body?.trim();
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string') {
      return parsed.version;
    }
  } catch {
    // Plain text.
  }
  return text.split('\n')[0]?.slice(0, 128);
}

/**
 * The AWS reads a probe makes beside the node's own checks (the instance, its target's health, the weights), with the
 * SDK's retries: they run in parallel with the checks, and rarely take more than a second.
 */
export const PROBE_AWS_SECONDS = 15;

/**
 * How long a function that probes nodes may take: its HTTP checks run in parallel, against every node at once, so
 * the slowest check's timeout bounds them, plus the AWS reads. A black-holed node takes exactly that long to fail.
 */
export function nodeProbeSeconds(model: { healthChecks: { http: readonly { timeoutMs: number }[] } }): number {
  const slowest = Math.max(0, ...model.healthChecks.http.map((check) => check.timeoutMs));
  return Math.ceil(slowest / 1000) + PROBE_AWS_SECONDS;
}

/** The checks that leave a probing function no room inside `limitSeconds`, with their paths in the model. */
export function checksTooSlowFor(
  model: { healthChecks: { http: readonly { timeoutMs: number }[] } },
  limitSeconds: number,
): { path: string; message: string }[] {
  const room = (limitSeconds - PROBE_AWS_SECONDS) * 1000;
  return model.healthChecks.http.flatMap((check, index) =>
    check.timeoutMs > room
      ? [
          {
            path: `healthChecks.http[${index}].timeoutMs`,
            message: `is ${check.timeoutMs} ms: a probe of a node that never answers must fit in ${limitSeconds} s with ${PROBE_AWS_SECONDS} s for the AWS reads`,
          },
        ]
      : [],
  );
}
