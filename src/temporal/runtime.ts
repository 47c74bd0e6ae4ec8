// The Temporal SDK's process-wide runtime, installed once before any worker or native
// connection: its log lines go through the service's logger (one JSON object per line, no
// stack traces), and signals are left to the service, which stops its worker itself — the
// SDK's own handler would start draining first, and the service's shutdown would then throw
// "Not running. Current state: DRAINING".
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { errorMessage, log } from '../log.js';
import { deliveryFailedType, destinationGoneType, misconfiguredType } from '../../workflows/messages.js';

/**
 * A delivery that failed because of the destination is expected, and the workflow records it
 * as the destination's status: it is not a worker problem worth a warning per attempt.
 */
const expectedFailureTypes = new Set([deliveryFailedType, misconfiguredType, destinationGoneType]);

function forward(entry: LogEntry): void {
  const { error, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
  if (error instanceof ApplicationFailure && expectedFailureTypes.has(error.type ?? '')) return;
  const fields: Record<string, unknown> = { source: 'temporal-sdk' };
  for (const key of ['sdkComponent', 'taskQueue', 'workflowType', 'workflowId', 'activityType', 'attempt'] as const) {
    if (meta[key] !== undefined) fields[key] = meta[key];
  }
  if (error !== undefined) fields.error = errorMessage(error);
  if (entry.level === 'ERROR') log.error(entry.message, fields);
  else log.warn(entry.message, fields);
}

let installed = false;

/** Installs the runtime (once per process): the SDK's warnings and errors, through our logger. */
export function installRuntime(): void {
  if (installed) return;
  Runtime.install({ logger: new DefaultLogger('WARN', forward), shutdownSignals: [] });
  installed = true;
}
