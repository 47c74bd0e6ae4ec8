// The delivery worker: runs destination workflows and their activities on one task queue.
// Workers scale out by running more processes with AUDITSTREAM_ROLE=worker.
import { NativeConnection, Worker, type WorkflowBundle, type WorkflowBundleOption } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { log } from '../log.js';
import { installRuntime } from './runtime.js';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const bundlerPath = fileURLToPath(new URL('./bundle-workflows.ts', import.meta.url));

/**
 * The workflows bundled by a child process (src/temporal/bundle-workflows.ts), in a directory of
 * its own until `Worker.create` has read it. A worker bundling in its own process keeps what
 * webpack took: measured on this machine, 290 MiB resident once started, against 193 MiB for
 * one given the bundle.
 */
export async function bundledApart<T>(use: (bundle: { codePath: string }) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'auditstream-workflows-'));
  try {
    const codePath = join(dir, 'workflows.js');
    await promisify(execFile)(process.execPath, [...process.execArgv, bundlerPath, workflowsPath, codePath], { maxBuffer: 16 * 1024 * 1024 });
    return await use({ codePath });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RunningWorker {
  stop(): Promise<void>;
}

export async function startWorker(options: {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Every activity the workflows call: delivery and the audit log's jobs. */
  activities: object;
  workflowBundle?: WorkflowBundle;
}): Promise<RunningWorker> {
  installRuntime();
  const connection = await NativeConnection.connect({ address: options.address });
  const create = (workflowBundle: WorkflowBundleOption) =>
    Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      activities: options.activities,
      workflowBundle,
      // Heartbeats reach Temporal at least every second, and with them a cancellation (a
      // delete interrupting a delivery) reaches the activity within a second or two.
      maxHeartbeatThrottleInterval: '1s',
    });
  const worker = await (options.workflowBundle ? create(options.workflowBundle) : bundledApart(create));
  const running = worker.run();
  log.info('delivery worker running', { taskQueue: options.taskQueue, namespace: options.namespace });
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
