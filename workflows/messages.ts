// The messages of a destination workflow: what the API and the dispatcher send it, and what
// its status query answers. No credentials and no event payloads ever pass through here.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DestinationStatus } from '../src/model.js';
import type { Interval, PendingRange } from './ranges.js';

export interface DeliveryPolicy {
  retryWindowMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  maxEventsPerActivity: number;
}

export interface DestinationWorkflowInput {
  destinationId: string;
  tenantId: string;
  provider: string;
  enabled: boolean;
  policy: DeliveryPolicy;
  /** Whether the namespace has the AuditTenant/AuditProvider/AuditStatus search attributes. */
  searchAttributes: boolean;
  /** State handed over by continue-as-new. */
  carried?: CarriedState;
}

export interface CarriedState {
  status: DestinationStatus;
  statusReason: string;
  enabled: boolean;
  pending: PendingRange[];
  settled: Interval[];
  failures: number;
  failingSince?: number;
  lastErrorAt?: number;
  delivered: number;
  rejected: number;
  dropped: number;
}

export interface DestinationSnapshot {
  status: DestinationStatus;
  statusReason: string;
  enabled: boolean;
  backlogEvents: number;
  oldestEventAt?: number;
  windowEndsAt?: number;
  pendingRanges: number;
  settledIntervals: number;
  delivered: number;
  rejected: number;
  dropped: number;
  failures: number;
  /** Size of the workflow's whole carried state as JSON: it must stay small whatever the backlog. */
  stateBytes: number;
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
/** Sent by the API after a destination's settings or credentials changed. */
export const reconfigureSignal = defineSignal<[Reconfigure]>('reconfigure');
export const statusQuery = defineQuery<DestinationSnapshot>('status');
/** Flushes buffered events within the deadline, then ends the workflow. */
export const deleteUpdate = defineUpdate<DeleteResult, [DeleteRequest]>('delete');

/** Failure types thrown by the delivery activity. */
export const deliveryFailedType = 'DeliveryFailed';
export const misconfiguredType = 'DestinationMisconfigured';
export const destinationGoneType = 'DestinationGone';

export function destinationWorkflowId(destinationId: string): string {
  return `destination-${destinationId}`;
}
