// What the compliance presets add to an export, all read from the tenant's own audit log
// (the service's events about its destinations are there, in the same sequence):
// - soc2: per destination, its counters, its status changes in the audit period and its
//   outages (degraded or failed until recovered), the longest first — evidence that
//   monitoring operated through the period (CC7.2);
// - gdpr-access: the recipients (the destinations that streamed while the subject's events
//   were accepted), and the subject's events with other people's identifiers pseudonymised.
import { createHmac, randomBytes } from 'node:crypto';
import type { AuditEvent } from '../model.js';
import type { AuditLog } from '../store/audit-log.js';
import type { DeliveryView } from '../store/destinations.js';
import type { DestinationDoc } from '../store/mongo.js';

type LoggedEvent = AuditEvent & { seq: number };

/** The service's own events about destinations, in order. */
async function destinationHistory(auditLog: AuditLog, tenantId: string, occurredBefore?: Date): Promise<LoggedEvent[]> {
  const events: LoggedEvent[] = [];
  for await (const event of auditLog.stream(tenantId, { actionPrefix: 'siem.destination.', resourceType: 'siem_destination', ...(occurredBefore ? { occurredBefore } : {}) })) {
    if (event.id.startsWith('auditstream-')) events.push(event);
  }
  return events;
}

export interface Outage {
  from: string;
  to: string | null;
  seconds: number;
  status: string;
}

/** Degraded or failed spans of one destination, clipped to the period; an open one lasts to its end. */
export function outagesOf(history: LoggedEvent[], from: Date, to: Date): Outage[] {
  const outages: Outage[] = [];
  let open: { at: Date; status: string } | undefined;
  const close = (at: Date | undefined) => {
    if (!open) return;
    const start = Math.max(open.at.getTime(), from.getTime());
    const end = Math.min((at ?? to).getTime(), to.getTime());
    if (end > start) outages.push({ from: new Date(start).toISOString(), to: at && at <= to ? at.toISOString() : null, seconds: Math.round((end - start) / 1000), status: open.status });
    open = undefined;
  };
  for (const event of history) {
    if (event.action === 'siem.destination.degraded' || event.action === 'siem.destination.failed') {
      if (!open) open = { at: event.occurredAt, status: String(event.metadata?.status) };
      else open.status = String(event.metadata?.status);
    } else if (event.action === 'siem.destination.recovered' || event.action === 'siem.destination.deleted') {
      close(event.occurredAt);
    }
  }
  close(undefined);
  return outages.sort((a, b) => b.seconds - a.seconds);
}

/** The soc2 preset's report: every destination of the tenant, as the period saw it. */
export async function soc2Report(auditLog: AuditLog, tenantId: string, destinations: (DestinationDoc & { delivery: DeliveryView })[], from: Date, to: Date) {
  const history = await destinationHistory(auditLog, tenantId, to);
  const ids = [...new Set([...destinations.map((doc) => doc._id), ...history.map((event) => event.resource!.id!)])];
  return {
    preset: 'soc2',
    control: 'CC7.2 — the system is monitored: each audit-log destination, its delivery counts, status changes and outages in the period',
    period: { from: from.toISOString(), to: to.toISOString() },
    generatedAt: new Date().toISOString(),
    destinations: ids.map((id) => {
      const doc = destinations.find((destination) => destination._id === id);
      const own = history.filter((event) => event.resource?.id === id);
      const inPeriod = own.filter((event) => event.occurredAt >= from && event.occurredAt < to);
      const outages = outagesOf(own, from, to);
      const created = own.find((event) => event.action === 'siem.destination.created');
      const deleted = own.find((event) => event.action === 'siem.destination.deleted');
      return {
        destinationId: id,
        name: doc?.name ?? created?.resource?.name ?? null,
        provider: doc?.provider ?? created?.metadata?.provider ?? null,
        createdAt: created?.occurredAt.toISOString() ?? doc?.createdAt.toISOString() ?? null,
        deletedAt: deleted?.occurredAt.toISOString() ?? null,
        // Counted since the destination was created (they are not kept per period).
        counters: doc?.delivery.counters ?? null,
        status: doc?.delivery.status ?? 'deleted',
        statusChanges: inPeriod
          .filter((event) => ['siem.destination.degraded', 'siem.destination.failed', 'siem.destination.recovered'].includes(event.action))
          .map((event) => ({ at: event.occurredAt.toISOString(), status: event.metadata?.status, reason: event.metadata?.reason })),
        outages,
        longestOutageSeconds: outages[0]?.seconds ?? 0,
      };
    }),
  };
}

/** The gdpr-access preset's recipients: destinations that existed while the subject's events were accepted. */
export async function gdprRecipients(auditLog: AuditLog, tenantId: string, destinations: DestinationDoc[], subjectFirst?: Date, subjectLast?: Date) {
  const history = await destinationHistory(auditLog, tenantId);
  const ids = [...new Set([...destinations.map((doc) => doc._id), ...history.map((event) => event.resource!.id!)])];
  return ids
    .map((id) => {
      const doc = destinations.find((destination) => destination._id === id);
      const own = history.filter((event) => event.resource?.id === id);
      const created = own.find((event) => event.action === 'siem.destination.created')?.occurredAt ?? doc?.createdAt;
      const deleted = own.find((event) => event.action === 'siem.destination.deleted')?.occurredAt;
      const endpoint = doc?.endpoint ?? (own.find((event) => event.metadata?.endpoint)?.metadata?.endpoint as string | undefined);
      return { id, doc, created, deleted, endpoint, provider: doc?.provider ?? own[0]?.metadata?.provider };
    })
    .filter(({ created, deleted }) => subjectLast === undefined || ((!created || created <= subjectLast) && (!deleted || !subjectFirst || deleted >= subjectFirst)))
    .map(({ id, doc, created, deleted, endpoint, provider }) => ({
      destinationId: id,
      name: doc?.name ?? null,
      provider: provider ?? null,
      recipient: endpoint ? new URL(endpoint).host : null,
      from: created?.toISOString() ?? null,
      to: deleted?.toISOString() ?? null,
    }));
}

/** Resource types that name a person: their ids are personal data of someone else than the subject. */
const personTypes = new Set(['user', 'person', 'member', 'customer', 'employee', 'patient', 'account', 'contact']);

/**
 * Replaces other people's identifiers in a subject's events by pseudonyms: keyed HMACs, the
 * same within one export (relations stay visible) and unlinkable across exports.
 */
export function pseudonymiser(subjectId: string): (event: AuditEvent) => AuditEvent {
  const key = randomBytes(32);
  const pseudonym = (value: string | undefined) => (value === undefined ? undefined : `pseudonym_${createHmac('sha256', key).update(value).digest('hex').slice(0, 16)}`);
  return (event) => {
    const out: AuditEvent = { ...event };
    if (event.actor && event.actor.id !== subjectId) {
      out.actor = { ...event.actor, id: pseudonym(event.actor.id), name: pseudonym(event.actor.name), ip: pseudonym(event.actor.ip), userAgent: pseudonym(event.actor.userAgent) };
      for (const field of ['id', 'name', 'ip', 'userAgent'] as const) if (out.actor[field] === undefined) delete out.actor[field];
    }
    if (event.resource && event.resource.id !== subjectId && personTypes.has(event.resource.type ?? '')) {
      out.resource = { ...event.resource, id: pseudonym(event.resource.id), name: pseudonym(event.resource.name) };
      if (out.resource.name === undefined) delete out.resource.name;
    }
    return out;
  };
}
