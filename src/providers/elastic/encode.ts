// ECS-shaped documents for the _bulk API, each carrying the original audit event too.
import { isIP } from 'node:net';
import { canonicalJson } from '../../completeness/checkpoint.js';
import type { AuditEvent } from '../../model.js';
import { toOcsfApiActivity } from '../../subscription/ocsf.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { toWireEvent } from '../wire-event.js';

export const defaultIndex = 'logs-auditstream-default';

export function ecsDocument(event: AuditEvent): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    '@timestamp': event.occurredAt.toISOString(),
    event: { id: event.id, action: event.action, outcome: event.outcome, kind: 'event', created: event.receivedAt.toISOString() },
    auditstream: toWireEvent(event),
  };
  if (event.actor?.id || event.actor?.name) doc.user = { id: event.actor.id, name: event.actor.name };
  // ECS maps source.ip as an IP address: a masked one (a token) stays only under `auditstream`.
  if (event.actor?.ip && isIP(event.actor.ip)) doc.source = { ip: event.actor.ip };
  if (event.actor?.userAgent) doc.user_agent = { original: event.actor.userAgent };
  if (event.replayOf) doc.labels = { replay: 'true', backfill_id: event.replayOf };
  return doc;
}

/** An OCSF event as a document: with the `@timestamp` a data stream needs. */
function ocsfDocument(event: AuditEvent, tenantId: string): Record<string, unknown> {
  return { '@timestamp': event.occurredAt.toISOString(), ...toOcsfApiActivity(event, tenantId) };
}

/**
 * The action line and the document, NDJSON: `create` with the event id, so a resend is a 409.
 * The document is ECS-shaped, or an OCSF event when that is the destination's format.
 */
export function encodeElasticEvent(event: AuditEvent, target: Pick<DeliveryTarget, 'settings' | 'format' | 'tenantId'>): EncodedEvent {
  const action = JSON.stringify({ create: { _index: target.settings.index ?? defaultIndex, _id: event.id } });
  const record = canonicalJson(target.format === 'ocsf' ? ocsfDocument(event, target.tenantId) : ecsDocument(event));
  return { event, record, bytes: Buffer.from(`${action}\n${record}\n`, 'utf8') };
}
