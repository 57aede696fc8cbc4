import * as fs from 'node:fs';
import { stopProcess } from '../../local/moto-server';
import { MOTO_PIDS_FILE, TEST_CACHE_DIR } from './settings';

export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(MOTO_PIDS_FILE)) return;
  const pids: number[] = JSON.parse(fs.readFileSync(MOTO_PIDS_FILE, 'utf8'));
  await Promise.all(pids.map((pid) => stopProcess(pid)));
  fs.rmSync(TEST_CACHE_DIR, { recursive: true, force: true });
}
