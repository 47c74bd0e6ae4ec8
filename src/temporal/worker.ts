// The delivery worker: runs destination workflows and their activities on one task queue.
// Workers scale out by running more processes with AUDITSTREAM_ROLE=worker.
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { log } from '../log.js';
import { installRuntime } from './runtime.js';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

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
  const worker = await Worker.create({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    // Heartbeats reach Temporal at least every second, and with them a cancellation (a
    // delete interrupting a delivery) reaches the activity within a second or two.
    maxHeartbeatThrottleInterval: '1s',
  });
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
