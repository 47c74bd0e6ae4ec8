// One Datadog log item per audit event: the event's JSON as `message`, the standard
// attributes (ddsource, service, ddtags, hostname, timestamp) and Datadog's reserved
// attributes for event, user and client IP so its facets work out of the box.
import { canonicalJson } from '../../completeness/checkpoint.js';
import type { AuditEvent } from '../../model.js';
import type { DeliveryTarget, EncodedEvent } from '../provider.js';
import { payloadOf } from '../wire-event.js';

/** Datadog only takes timestamps from 18 hours back; older ones must be sent as "now". */
export const acceptanceWindowMs = 18 * 3600_000;

export interface DatadogItem {
  message: string;
  ddsource: string;
  service: string;
  ddtags: string;
  hostname: string;
  timestamp: number;
  [attribute: string]: unknown;
}

export function datadogItem(
  event: AuditEvent,
  target: Pick<DeliveryTarget, 'settings' | 'format' | 'tenantId'>,
  now: Date,
  message = canonicalJson(payloadOf(event, target)),
): DatadogItem {
  const { settings } = target;
  const tags = [`action:${event.action}`, `outcome:${event.outcome}`, ...(event.replayOf ? ['replay:true'] : []), ...(settings.tags ? [settings.tags] : [])].join(',');
  const item: DatadogItem = {
    message,
    // In OCSF, the source names the format, so that Datadog's OCSF processing picks the events up.
    ddsource: settings.source ?? (target.format === 'ocsf' ? 'ocsf' : 'auditstream'),
    service: settings.service ?? 'auditstream',
    ddtags: tags,
    hostname: 'auditstream',
    timestamp: event.occurredAt.getTime(),
    evt: { id: event.id, name: event.action, outcome: event.outcome },
  };
  if (event.actor?.id || event.actor?.name) item.usr = { id: event.actor.id, name: event.actor.name };
  if (event.actor?.ip) item.network = { client: { ip: event.actor.ip } };
  if (now.getTime() - item.timestamp > acceptanceWindowMs) {
    item.original_timestamp = event.occurredAt.toISOString();
    item.timestamp = now.getTime();
  }
  return item;
}

export function encodeDatadogEvent(event: AuditEvent, target: Pick<DeliveryTarget, 'settings' | 'format' | 'tenantId'>, now: Date): EncodedEvent {
  // What Datadog keeps of the event is its message: the event's JSON.
  const record = canonicalJson(payloadOf(event, target));
  return { event, record, bytes: Buffer.from(JSON.stringify(datadogItem(event, target, now, record)), 'utf8') };
}
