// One HEC event envelope per audit event: time in epoch seconds with millisecond decimals,
// host, source, sourcetype, optional index, the audit event itself, and flat indexed fields.
import { canonicalJson } from '../../completeness/checkpoint.js';
import type { AuditEvent } from '../../model.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { payloadOf } from '../wire-event.js';

export const defaultSource = 'auditstream';
export const defaultSourcetype = 'audit:event';
/** The sourcetype of OCSF events when none is set: their class, as Splunk's OCSF add-ons name it. */
export const ocsfSourcetype = 'ocsf:api_activity';

export function encodeSplunkEvent(event: AuditEvent, target: Pick<DeliveryTarget, 'settings' | 'format' | 'tenantId'>): EncodedEvent {
  const { settings } = target;
  const envelope: Record<string, unknown> = {
    time: Number((event.occurredAt.getTime() / 1000).toFixed(3)),
    host: 'auditstream',
    source: settings.source ?? defaultSource,
    sourcetype: settings.sourcetype ?? (target.format === 'ocsf' ? ocsfSourcetype : defaultSourcetype),
  };
  if (settings.index) envelope.index = settings.index;
  const record = canonicalJson(payloadOf(event, target));
  const fields = { event_id: event.id, action: event.action, outcome: event.outcome, ...(event.replayOf ? { replay: 'true', backfill_id: event.replayOf } : {}) };
  // The envelope's JSON with the record's canonical text as its `event`, as it is.
  const head = JSON.stringify(envelope);
  return { event, record, bytes: Buffer.from(`${head.slice(0, -1)},"event":${record},"fields":${JSON.stringify(fields)}}`, 'utf8') };
}
