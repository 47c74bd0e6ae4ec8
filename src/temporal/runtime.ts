// The Temporal SDK's process-wide runtime, installed once before any worker or native
// connection: its log lines, the Rust core's included, go through the service's logger (one
// JSON object per line, no stack traces), and signals are left to the service, which stops its
// worker itself — the SDK's own handler would start draining first, and the service's
// shutdown would then throw "Not running. Current state: DRAINING".
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime, makeTelemetryFilterString, type LogEntry } from '@temporalio/worker';
import { errorMessage, log } from '../log.js';
import { deliveryFailedType, destinationGoneType, misconfiguredType } from '../../workflows/messages.js';

/**
 * A delivery that failed because of the destination is expected, and the workflow records it
 * as the destination's status: it is not a worker problem worth a warning per attempt.
 */
const expectedFailureTypes = new Set([deliveryFailedType, misconfiguredType, destinationGoneType]);

/** Warnings of the SDK's core that say nothing is wrong here, each with why. */
const harmlessCoreWarnings = [
  // A delete ends the destination's workflow while its interrupted delivery is finishing: the
  // delivery's result then finds no workflow to go to, as the delete's answer already counted it.
  'Activity not found on completion',
  // The same for a workflow task: its workflow had ended (deleted, or terminated by an operator).
  'Task not found when completing',
  // A server too old to keep the last heartbeat's details of a failed activity (the
  // time-skipping test server): nothing here reads them — a failed delivery reports what got
  // through in its failure's own details.
  'is required to guarantee that the latest heartbeat details are preserved',
];

function forward(entry: LogEntry): void {
  const { error, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
  if (error instanceof ApplicationFailure && expectedFailureTypes.has(error.type ?? '')) return;
  if (entry.level === 'WARN' && harmlessCoreWarnings.some((text) => entry.message.includes(text))) return;
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
  Runtime.install({
    logger: new DefaultLogger('WARN', forward),
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
  installed = true;
}
