import * as fs from 'node:fs';
import { startMotoServer } from '../../local/moto-server';
import { MOTO_ENDPOINTS_ENV, MOTO_PIDS_FILE, TEST_CACHE_DIR } from './settings';
import { synthesizeTestAppToDisk } from './synth';

interface JestGlobalConfig {
  maxWorkers: number;
}

/**
 * Starts one moto_server per jest worker (each worker then has an emulator of its own and tests never see each
 * other's resources) and synthesizes the CDK app once for the whole run.
 */
export default async function globalSetup(globalConfig: JestGlobalConfig): Promise<void> {
  // Every worker would print the SDK's notice that it leaves Node 20 in 2027 (the Lambdas run on Node 24), burying
  // a failure in repeated noise. Workers and the processes tests start inherit this.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  fs.rmSync(TEST_CACHE_DIR, { recursive: true, force: true });
  fs.mkdirSync(TEST_CACHE_DIR, { recursive: true });
  const workers = Math.max(1, globalConfig.maxWorkers);
  const servers = await Promise.all(Array.from({ length: workers }, () => startMotoServer(TEST_CACHE_DIR)));
  fs.writeFileSync(MOTO_PIDS_FILE, JSON.stringify(servers.map((server) => server.pid)));
  // Workers are forked after global setup, so they inherit this.
  process.env[MOTO_ENDPOINTS_ENV] = servers.map((server) => server.endpoint).join(',');
  synthesizeTestAppToDisk();
}
