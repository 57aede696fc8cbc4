import { installPromiseWithResolvers } from '../../local/polyfills';
import { LOCAL_REGION } from '../../local/settings';
import { MOTO_ENDPOINTS_ENV } from './settings';

installPromiseWithResolvers();

const endpoints = (process.env[MOTO_ENDPOINTS_ENV] ?? '').split(',').filter(Boolean);
const workerIndex = Number(process.env.JEST_WORKER_ID ?? '1') - 1;
const endpoint = endpoints[workerIndex % Math.max(1, endpoints.length)];
if (endpoint) {
  // The SDK's own setting routes every v3 client to moto; production code never names an endpoint.
  process.env.AWS_ENDPOINT_URL = endpoint;
}
process.env.AWS_REGION = LOCAL_REGION;
process.env.AWS_ACCESS_KEY_ID = 'testing';
process.env.AWS_SECRET_ACCESS_KEY = 'testing';
process.env.AWS_SESSION_TOKEN = 'testing';
delete process.env.AWS_PROFILE;
