// The service audits itself: what is done to a tenant's destinations, retention and exports,
// and every status change of a destination, becomes an event in that tenant's own audit log
// — queryable, exportable, and streamed to its destinations like any other, so a customer's
// SIEM learns that a stream broke. Never a secret in them.
//
// The API publishes what it does at once, through the publisher, which alone owns a tenant's
// sequence. What the worker sees (status changes, finished exports) — or what an API process
// could not publish, or does not lead the store to publish — becomes a notice in the small
// `service_events` collection, which the leading API process relays through the publisher and
// then removes. An event's id is fixed when it is made, so publishing one twice (a crash in
// between) stores it once. An event about a destination is
// not sent to that destination: a failing destination must not be what keeps itself failing.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, EventOutcome } from '../model.js';
import { errorMessage, log } from '../log.js';
import { NotIngesting } from '../ingest/lease.js';
import type { Caller } from '../store/api-keys.js';
import type { Collections, ServiceEventDoc } from '../store/mongo.js';
import type { StatusChange } from '../../workflows/state.js';

/** Who did it: the API key of the call (by its prefix and name, never the key), or the service. */
export type AuditActor = { type: 'api_key'; id: string; name: string } | { type: 'service'; id: 'auditstream'; name: 'auditstream' };

export const serviceActor: AuditActor = { type: 'service', id: 'auditstream', name: 'auditstream' };

export function actorOf(caller: Caller): AuditActor {
  return { type: 'api_key', id: caller.keyPrefix, name: caller.keyName };
}

export interface ServiceEvent {
  action: string;
  actor: AuditActor;
  resource: { type: string; id: string; name?: string };
  outcome?: EventOutcome;
  metadata?: Record<string, unknown>;
  /** A fixed id makes a repeated notice the same event (a status change recorded twice). */
  id?: string;
  /** Destinations this event is not sent to. */
  exclude?: string[];
}

const statusActions: Record<string, string> = { degraded: 'siem.destination.degraded', failed: 'siem.destination.failed', active: 'siem.destination.recovered' };

/**
 * A destination's status change as an event of its tenant's audit log: the reason (already
 * scrubbed of credentials) and, while degraded, when the buffered events will be dropped.
 */
/** The service's own event about this destination: never sent to it, live or replayed. */
export function isAboutDestination(event: AuditEvent, destinationId: string): boolean {
  return event.id.startsWith('auditstream-') && event.resource?.type === 'siem_destination' && event.resource.id === destinationId;
}

export function statusChangeEvent(destinationId: string, provider: string | undefined, change: StatusChange): ServiceEvent {
  const metadata: Record<string, unknown> = {
    provider: provider ?? 'unknown',
    status: change.to,
    previousStatus: change.from,
    reason: change.reason,
    backlogEvents: change.backlogEvents,
    droppedEvents: change.dropped,
  };
  if (change.firstPendingSeq !== undefined) metadata.firstPendingSeq = change.firstPendingSeq;
  if (change.windowEndsAt !== undefined) {
    metadata.windowEndsAt = new Date(change.windowEndsAt).toISOString();
    metadata.secondsUntilDropped = Math.max(0, Math.round((change.windowEndsAt - change.at) / 1000));
  }
  return {
    id: `auditstream-status-${destinationId}-${change.n}`,
    action: statusActions[change.to],
    actor: serviceActor,
    resource: { type: 'siem_destination', id: destinationId },
    outcome: change.to === 'active' ? 'success' : 'failure',
    metadata,
    exclude: [destinationId],
  };
}

export type Publish = (tenantId: string, events: AuditEvent[], options: { exclude: string[] }) => Promise<unknown>;

export class ServiceEvents {
  constructor(
    private readonly collections: Collections,
    /** In an API process: events are published at once, a notice only when that fails (or it does not lead). */
    private readonly publish?: Publish,
  ) {}

  /** Records the event: published, or noted for the relay (idempotent for a fixed id). */
  async record(tenantId: string, event: ServiceEvent, at = new Date()): Promise<void> {
    const id = event.id ?? `auditstream-${randomUUID()}`;
    const auditEvent: AuditEvent = {
      id,
      occurredAt: at,
      receivedAt: at,
      action: event.action,
      outcome: event.outcome ?? 'success',
      actor: { ...event.actor },
      resource: { ...event.resource },
      ...(event.metadata ? { metadata: event.metadata } : {}),
    };
    if (this.publish) {
      try {
        await this.publish(tenantId, [auditEvent], { exclude: event.exclude ?? [] });
        return;
      } catch (error) {
        // An API process that does not lead the store notes its events for the leader's relay.
        if (!(error instanceof NotIngesting)) {
          log.warn('could not publish a service audit event now; noted for later', { tenantId, action: event.action, error: errorMessage(error) });
        }
      }
    }
    await this.collections.serviceEvents
      .insertOne({ _id: id, tenantId, event: auditEvent, exclude: event.exclude ?? [], createdAt: at })
      .catch((error: { code?: number }) => {
        if (error.code !== 11000) throw error; // already noted
      });
  }

  /** Records a notice, logging instead of failing the operation it describes when the store is unreachable. */
  async tryRecord(tenantId: string, event: ServiceEvent): Promise<void> {
    await this.record(tenantId, event).catch((error) =>
      log.error('could not record a service audit event', { tenantId, action: event.action, error: errorMessage(error) }),
    );
  }

  pending(limit: number): Promise<ServiceEventDoc[]> {
    return this.collections.serviceEvents.find({}).limit(limit).toArray();
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.collections.serviceEvents.deleteMany({ _id: { $in: ids } });
  }
}

/** Relays notices into the tenants' audit logs every `intervalMs`; returns a stop function. */
export function startServiceEventRelay(notices: ServiceEvents, publish: Publish, intervalMs: number): () => void {
  let running = false;
  const relay = async () => {
    if (running) return;
    running = true;
    try {
      for (;;) {
        const pending = await notices.pending(500);
        if (pending.length === 0) break;
        const groups = new Map<string, typeof pending>();
        for (const notice of pending) {
          const key = `${notice.tenantId}\n${[...notice.exclude].sort().join(',')}`;
          groups.set(key, [...(groups.get(key) ?? []), notice]);
        }
        for (const group of groups.values()) {
          await publish(group[0].tenantId, group.map((notice) => notice.event), { exclude: group[0].exclude });
          await notices.remove(group.map((notice) => notice._id));
        }
        if (pending.length < 500) break;
      }
    } catch (error) {
      log.warn('could not relay service audit events; will try again', { error: errorMessage(error) });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void relay(), intervalMs);
  void relay();
  return () => clearInterval(timer);
}
