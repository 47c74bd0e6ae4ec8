import type { AuditEvent } from '../../model.js';
import type { EncodedEvent } from '../provider.js';
import { toWireEvent } from '../wire-event.js';

/** A log event's message is the audit event's JSON; its timestamp is when the action happened. */
export function encodeCloudWatchEvent(event: AuditEvent): EncodedEvent {
  return { event, bytes: Buffer.from(JSON.stringify(toWireEvent(event)), 'utf8') };
}
