import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';

/** Where every test run keeps its scratch directory. Ignored by git. */
export const TEST_RUNS_DIR = path.join(PROJECT_ROOT, '.cache', 'test-run');
/** Set by global setup for the workers: the scratch directory of this run. */
export const TEST_RUN_DIR_ENV = 'ZERODOWN_TEST_RUN_DIR';
/**
 * Scratch space for one test run: moto logs, moto's PIDs and the synthesized cloud assembly. Each run has its own
 * (named after jest's main process), so two runs in one checkout (a tier beside the whole suite) never stop each
 * other's moto servers or read each other's templates.
 */
export const TEST_CACHE_DIR = process.env[TEST_RUN_DIR_ENV] ?? path.join(TEST_RUNS_DIR, String(process.pid));
export const SYNTH_OUT_DIR = path.join(TEST_CACHE_DIR, 'cdk.out');
export const SYNTH_ERROR_FILE = path.join(TEST_CACHE_DIR, 'synth-error.txt');
export const MOTO_ENDPOINTS_ENV = 'ZERODOWN_TEST_MOTO_ENDPOINTS';
export const MOTO_PIDS_FILE = path.join(TEST_CACHE_DIR, 'moto-pids.json');
