import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';

/** Scratch space for one test run: moto logs and the synthesized cloud assembly. Ignored by git. */
export const TEST_CACHE_DIR = path.join(PROJECT_ROOT, '.cache', 'test-run');
export const SYNTH_OUT_DIR = path.join(TEST_CACHE_DIR, 'cdk.out');
export const SYNTH_ERROR_FILE = path.join(TEST_CACHE_DIR, 'synth-error.txt');
export const MOTO_ENDPOINTS_ENV = 'ZERODOWN_TEST_MOTO_ENDPOINTS';
export const MOTO_PIDS_FILE = path.join(TEST_CACHE_DIR, 'moto-pids.json');
