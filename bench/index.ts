/**
 * `npm run bench`: every benchmark of the project, printed as figures. Benchmarks report against their targets;
 * they never fail a build on timing.
 */
import { report as bundleReport, measureBundles } from './bundles';
import { report as faultReport, measureFaultMatrix } from './faults';
import { measureSandbox, report as sandboxReport } from './sandbox';
import { measureWorkflows, report as workflowReport } from './workflows';

async function main(): Promise<void> {
  const progress = (message: string) => process.stderr.write(`${message}\n`);
  process.stdout.write('== Lambda bundles: size and cold module load ==\n');
  process.stdout.write(`${bundleReport(await measureBundles({ onProgress: progress }))}\n\n`);
  process.stdout.write('== Workflows: state transitions, AWS calls and cost of a happy path ==\n');
  process.stdout.write(`${workflowReport(await measureWorkflows())}\n\n`);
  process.stdout.write('== Fault matrix: every workflow under stops, throttles, crashes, races and failovers ==\n');
  process.stdout.write(`${faultReport(measureFaultMatrix())}\n\n`);
  process.stdout.write('== Sandbox: the workflows under live traffic ==\n');
  process.stdout.write(`${sandboxReport(await measureSandbox(progress))}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
