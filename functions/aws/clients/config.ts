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

/**
 * A per-region client factory, built once per container. The function's own region is served by `own`, the client
 * every other operation uses; other regions get one client each. Region failover works in two regions at once.
 */
export function regionalClients<Client>(own: Client, make: (region: string) => Client): (region: string) => Client {
  const others = new Map<string, Client>();
  return (region) => {
    if (region === process.env.AWS_REGION) return own;
    let client = others.get(region);
    if (!client) {
      client = make(region);
      others.set(region, client);
    }
    return client;
  };
}
