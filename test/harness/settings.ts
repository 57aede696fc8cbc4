import * as path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
/** Scratch space for one test run: moto logs and the synthesized cloud assembly. Ignored by git. */
export const TEST_CACHE_DIR = path.join(PROJECT_ROOT, '.cache', 'test-run');
export const SYNTH_OUT_DIR = path.join(TEST_CACHE_DIR, 'cdk.out');
export const SYNTH_ERROR_FILE = path.join(TEST_CACHE_DIR, 'synth-error.txt');
export const MOTO_ENDPOINTS_ENV = 'ZERODOWN_TEST_MOTO_ENDPOINTS';
export const MOTO_PIDS_FILE = path.join(TEST_CACHE_DIR, 'moto-pids.json');
/** The region every test cluster and test stack lives in. */
export const TEST_REGION = 'us-east-1';
/** The region of the DR site in tests and in the sandbox. */
export const DR_REGION = 'eu-west-1';
/** moto's default account: the ARNs it makes carry it. */
export const TEST_ACCOUNT = '123456789012';
