/**
 * Settings shared by every SDK client. No endpoint is set here: `AWS_ENDPOINT_URL` (the SDK's own variable)
 * points the clients at the local emulator in tests and in the sandbox, and is absent in Lambda.
 */
export function clientConfig(region?: string) {
  return {
    ...(region ? { region } : {}),
    // The ELBv2 and EC2 control planes throttle early; the standard retry mode backs off with jitter.
    maxAttempts: 5,
    retryMode: 'standard',
  } as const;
}
