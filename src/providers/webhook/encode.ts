import { canonicalJson } from '../../completeness/checkpoint.js';
import type { AuditEvent } from '../../model.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { payloadOf } from '../wire-event.js';

/** Each event is the JSON of the audit event, unchanged (or its OCSF form, in that format). */
export function encodeWebhookEvent(event: AuditEvent, target: Pick<DeliveryTarget, 'format' | 'tenantId'>): EncodedEvent {
  const record = canonicalJson(payloadOf(event, target));
  return { event, record, bytes: Buffer.from(record, 'utf8') };
}
