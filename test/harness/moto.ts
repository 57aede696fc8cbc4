import { resetMotoServer } from '../../local/moto-server';

export function motoEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint)
    throw new Error('AWS_ENDPOINT_URL is not set: run the tests through jest, whose global setup starts moto');
  return endpoint;
}

/** Gives each test in the calling file a fresh, empty moto. */
export function useMoto(): void {
  beforeEach(async () => {
    await resetMotoServer(motoEndpoint());
  });
}
