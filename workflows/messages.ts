// The messages of a destination workflow: what the API and the dispatcher send it, and what
// it answers. No credentials and no event payloads ever pass through here.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PendingRange } from './ranges.js';
import type { DestinationSnapshot, DestinationState } from './state.js';

export interface DestinationWorkflowInput {
  destinationId: string;
  tenantId: string;
  provider: string;
  /** Whether the namespace has the AuditTenant/AuditProvider/AuditStatus search attributes. */
  searchAttributes: boolean;
  /** State handed over by continue-as-new; absent, the workflow recovers its state from MongoDB. */
  carried?: DestinationState;
}

export interface EventsReady {
  ranges: PendingRange[];
}

export interface Reconfigure {
  enabled: boolean;
}

export interface DeleteRequest {
  flushDeadlineMs: number;
}

export interface DeleteResult {
  flushed: number;
  dropped: number;
}

/** Sent by the dispatcher once events are committed to MongoDB. */
export const eventsReadySignal = defineSignal<[EventsReady]>('eventsReady');
/** Sent by the API after a destination's settings or credentials changed; answers the new state. */
export const reconfigureUpdate = defineUpdate<DestinationSnapshot, [Reconfigure]>('reconfigure');
export const statusQuery = defineQuery<DestinationSnapshot>('status');
/** Flushes buffered events within the deadline, then ends the workflow. */
export const deleteUpdate = defineUpdate<DeleteResult, [DeleteRequest]>('delete');

export interface StartBackfill {
  id: string;
  fromSeq: number;
  lastSeq: number;
}

/** Sent by the API: replay these seqs of the audit log into the destination, beside live events. */
export const startBackfillUpdate = defineUpdate<{ started: boolean; running?: string }, [StartBackfill]>('startBackfill');
/** Sent by the API: stop the backfill now; what it sent stays sent. */
export const cancelBackfillUpdate = defineUpdate<{ cancelled: boolean }, [{ id: string }]>('cancelBackfill');

/** Failure types thrown by the delivery activity. */
export const deliveryFailedType = 'DeliveryFailed';
export const misconfiguredType = 'DestinationMisconfigured';
export const destinationGoneType = 'DestinationGone';

export function destinationWorkflowId(destinationId: string): string {
  return `destination-${destinationId}`;
}
