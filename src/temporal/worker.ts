// The delivery worker: runs destination workflows and their activities on one task queue.
// Workers scale out by running more processes with AUDITSTREAM_ROLE=worker.
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import type { DeliveryActivities } from '../../activities/delivery.js';
import { log } from '../log.js';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let runtimeInstalled = false;

/** The SDK logs at INFO by default (bundler output, every state change): keep warnings only. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('WARN') });
  runtimeInstalled = true;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

export async function startWorker(options: {
  address: string;
  namespace: string;
  taskQueue: string;
  activities: DeliveryActivities;
  workflowBundle?: WorkflowBundle;
}): Promise<RunningWorker> {
  installQuietRuntime();
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
