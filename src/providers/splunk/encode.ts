// One HEC event envelope per audit event: time in epoch seconds with millisecond decimals,
// host, source, sourcetype, optional index, the audit event itself, and flat indexed fields.
import type { AuditEvent } from '../../model.js';
import type { EncodedEvent, ProviderSettings } from '../provider.js';
import { toWireEvent } from '../wire-event.js';

export const defaultSource = 'auditstream';
export const defaultSourcetype = 'audit:event';

export function encodeSplunkEvent(event: AuditEvent, settings: ProviderSettings): EncodedEvent {
  const envelope: Record<string, unknown> = {
    time: Number((event.occurredAt.getTime() / 1000).toFixed(3)),
    host: 'auditstream',
    source: settings.source ?? defaultSource,
    sourcetype: settings.sourcetype ?? defaultSourcetype,
  };
  if (settings.index) envelope.index = settings.index;
  envelope.event = toWireEvent(event);
  envelope.fields = { event_id: event.id, action: event.action, outcome: event.outcome, ...(event.replayOf ? { replay: 'true', backfill_id: event.replayOf } : {}) };
  return { event, bytes: Buffer.from(JSON.stringify(envelope), 'utf8') };
}
