import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (an esbuild alias, see cdk/bundling.ts).
 * Lambda gives every function its role's credentials in environment variables, so the rest of the default chain
 * (SSO, profiles, web identity, instance metadata, and the STS clients they bring: about 130 KB) is dead weight
 * there. Tests and local runs use the real chain.
 */
export const defaultProvider = (init?: Parameters<typeof fromEnv>[0]) => fromEnv(init);
