import type { AuditEvent } from '../../model.js';
import type { EncodedEvent } from '../provider.js';
import { toWireEvent } from '../wire-event.js';

/** Each event is the JSON of the audit event, unchanged. */
export function encodeWebhookEvent(event: AuditEvent): EncodedEvent {
  return { event, bytes: Buffer.from(JSON.stringify(toWireEvent(event)), 'utf8') };
}
