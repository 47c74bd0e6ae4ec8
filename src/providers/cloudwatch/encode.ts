import { canonicalJson } from '../../completeness/checkpoint.js';
import type { AuditEvent } from '../../model.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { payloadOf } from '../wire-event.js';

/** A log event's message is the audit event's JSON (or its OCSF form); its timestamp is when the action happened. */
export function encodeCloudWatchEvent(event: AuditEvent, target: Pick<DeliveryTarget, 'format' | 'tenantId'>): EncodedEvent {
  const record = canonicalJson(payloadOf(event, target));
  return { event, record, bytes: Buffer.from(record, 'utf8') };
}
