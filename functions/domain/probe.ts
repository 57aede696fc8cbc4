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
