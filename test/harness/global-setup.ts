import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive, startMotoServer } from '../../local/moto-server';
import { MOTO_ENDPOINTS_ENV, MOTO_PIDS_FILE, TEST_CACHE_DIR, TEST_RUN_DIR_ENV, TEST_RUNS_DIR } from './settings';
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
  removeDirectoriesOfEndedRuns();
  fs.rmSync(TEST_CACHE_DIR, { recursive: true, force: true });
  fs.mkdirSync(TEST_CACHE_DIR, { recursive: true });
  process.env[TEST_RUN_DIR_ENV] = TEST_CACHE_DIR;
  const workers = Math.max(1, globalConfig.maxWorkers);
  const servers = await Promise.all(Array.from({ length: workers }, () => startMotoServer(TEST_CACHE_DIR)));
  fs.writeFileSync(MOTO_PIDS_FILE, JSON.stringify(servers.map((server) => server.pid)));
  // Workers are forked after global setup, so they inherit this.
  process.env[MOTO_ENDPOINTS_ENV] = servers.map((server) => server.endpoint).join(',');
  synthesizeTestAppToDisk();
}

/** Scratch directories of runs whose jest process is gone (killed, crashed): their moto servers exited with them. */
function removeDirectoriesOfEndedRuns(): void {
  if (!fs.existsSync(TEST_RUNS_DIR)) return;
  for (const entry of fs.readdirSync(TEST_RUNS_DIR)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || isAlive(pid)) continue;
    fs.rmSync(path.join(TEST_RUNS_DIR, entry), { recursive: true, force: true });
  }
}
