// The JSON of an audit event as every destination receives it: the same field names as the
// API's AuditEvent in JSON, so what a customer publishes is what their SIEM gets.
import type { AuditEvent } from '../model.js';
import { toOcsfApiActivity } from '../subscription/ocsf.js';
import type { DeliveryTarget } from './provider.js';

export interface WireEvent {
  id: string;
  occurredAt: string;
  receivedAt: string;
  action: string;
  outcome: string;
  actor?: AuditEvent['actor'];
  resource?: AuditEvent['resource'];
  requestId?: string;
  metadata?: Record<string, unknown>;
  /** Sent again by a backfill: which one. The event is the same (same id). */
  replay?: { backfillId: string };
  /** Sent live: the destination's own sequence number of it, which its checkpoints cover. */
  stream?: { destinationId: string; sequence: number };
}

export function toWireEvent(event: AuditEvent): WireEvent {
  const wire: WireEvent = {
    id: event.id,
    occurredAt: event.occurredAt.toISOString(),
    receivedAt: event.receivedAt.toISOString(),
    action: event.action,
    outcome: event.outcome,
  };
  if (event.actor) wire.actor = event.actor;
  if (event.resource) wire.resource = event.resource;
  if (event.requestId) wire.requestId = event.requestId;
  if (event.metadata) wire.metadata = event.metadata;
  if (event.replayOf) wire.replay = { backfillId: event.replayOf };
  if (event.stream) wire.stream = event.stream;
  return wire;
}

/** An event as the destination's format writes it: auditstream's own JSON, or an OCSF API Activity event. */
export function payloadOf(event: AuditEvent, target: Pick<DeliveryTarget, 'format' | 'tenantId'>): object {
  return target.format === 'ocsf' ? toOcsfApiActivity(event, target.tenantId) : toWireEvent(event);
}
