// The domain's shapes, shared by the API, the store, the providers and the activities.
// Values of these types have been validated at the API boundary.

/** The most events one PublishEvents call may carry. */
export const maxEventsPerPublish = 1_000;

export const destinationStatuses = ['active', 'degraded', 'failed'] as const;
export type DestinationStatus = (typeof destinationStatuses)[number];

export const eventOutcomes = ['success', 'failure', 'unknown'] as const;
export type EventOutcome = (typeof eventOutcomes)[number];

/** Which events of the audit log a query, an export or a backfill is about: every field given must match. */
export interface AuditFilter {
  occurredAfter?: Date;
  occurredBefore?: Date;
  action?: string;
  actionPrefix?: string;
  actorId?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: EventOutcome;
  /** Any of these outcomes (what excluding one leaves). */
  outcomes?: EventOutcome[];
  /** The actor or the resource is this id. */
  subjectId?: string;
}

/** An audit event as stored and as sent to destinations (JSON-friendly apart from dates). */
export interface AuditEvent {
  id: string;
  occurredAt: Date;
  receivedAt: Date;
  action: string;
  outcome: EventOutcome;
  actor?: { type?: string; id?: string; name?: string; ip?: string; userAgent?: string };
  resource?: { type?: string; id?: string; name?: string };
  requestId?: string;
  metadata?: Record<string, unknown>;
  /**
   * Set on an event being replayed by a backfill (its id), in memory only: each provider
   * marks the event as a replay where its format allows.
   */
  replayOf?: string;
  /**
   * Set on an event as it is sent live to a destination, in memory only: that destination's own
   * sequence number of it (src/completeness/stream.ts), which every provider's format carries.
   */
  stream?: { destinationId: string; sequence: number };
}

export interface DeliveryCounters {
  delivered: number;
  dropped: number;
  rejected: number;
}

export interface Backlog {
  events: number;
  oldestEventAt?: Date;
  windowEndsAt?: Date;
}
