// Bundles the workflows into one file — `bundle-workflows.ts <workflows path> <output file>` —
// in a process of its own, started by the worker (src/temporal/worker.ts): what webpack takes
// while bundling (≈ 100 MiB) leaves with this process instead of staying in the worker's.
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';

const [workflowsPath, output] = process.argv.slice(2);
const { code } = await bundleWorkflowCode({ workflowsPath });
await writeFile(output, code);
