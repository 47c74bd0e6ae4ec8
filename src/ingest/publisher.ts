// Group commit: publishes that arrive while a tenant's previous flush is running are
// written together by the next flush — one sequence allocation, one insert into the audit
// log, one buffered batch, one announcement per destination — so the cost per event falls
// as load rises. A publish resolves once its events are durable in MongoDB.
import { log, errorMessage } from '../log.js';
import type { AuditEvent } from '../model.js';
import { ingestFlushes } from '../metrics.js';
import type { AuditLog } from '../store/audit-log.js';
import { batchId, type EventStore } from '../store/events.js';
import type { OutboxDoc } from '../store/mongo.js';
import type { TenantStore } from '../store/tenants.js';

export interface PublishResult {
  id: string;
  duplicate: boolean;
}

interface Waiter {
  events: AuditEvent[];
  /** Destinations these events are not sent to (a destination's own status events). */
  exclude: string[];
  resolve: (results: PublishResult[]) => void;
  reject: (error: unknown) => void;
  /** Set once the waiter has its answer (possibly a timeout before its flush ended). */
  answered: boolean;
  flushing: boolean;
}

/**
 * A publish the store did not answer in time. `stored` says whether its events may still be
 * stored: false when its flush had not started (nothing was written), undefined when it had.
 */
export class PublishTimeout extends Error {
  constructor(readonly stored: false | undefined) {
    super(stored === false ? 'the event store did not answer in time; nothing was accepted' : 'the event store did not confirm the write in time');
  }
}

export interface Announcer {
  announce(batch: OutboxDoc): void;
}

/** Whether this process may acknowledge events now (it holds the store's ingest lease): throws when not. */
export interface IngestGate {
  check(): void;
}

export class Publisher {
  private readonly queues = new Map<string, Waiter[]>();
  private readonly flushing = new Set<string>();

  constructor(
    private readonly tenants: TenantStore,
    private readonly events: EventStore,
    private readonly auditLog: AuditLog,
    private readonly announcer: Announcer,
    private readonly gate: IngestGate,
    /** A publish not durable within this answers PublishTimeout (the caller retries). */
    private readonly timeoutMs = 4_500,
    private readonly maxEventsPerFlush = 5_000,
  ) {}

  publish(tenantId: string, events: AuditEvent[], options: { exclude?: string[] } = {}): Promise<PublishResult[]> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(tenantId) ?? [];
      const waiter: Waiter = { events, exclude: [...(options.exclude ?? [])].sort(), resolve, reject, answered: false, flushing: false };
      const timer = setTimeout(() => {
        if (waiter.answered) return;
        waiter.answered = true;
        const queued = queue.indexOf(waiter);
        if (queued !== -1) queue.splice(queued, 1);
        reject(new PublishTimeout(waiter.flushing ? undefined : false));
      }, this.timeoutMs);
      waiter.resolve = (results) => {
        clearTimeout(timer);
        if (!waiter.answered) resolve(results);
        waiter.answered = true;
      };
      waiter.reject = (error) => {
        clearTimeout(timer);
        if (!waiter.answered) reject(error);
        waiter.answered = true;
      };
      queue.push(waiter);
      this.queues.set(tenantId, queue);
      if (!this.flushing.has(tenantId)) {
        this.flushing.add(tenantId);
        // Let the publishes of this event-loop turn join the first flush.
        setImmediate(() => void this.drain(tenantId));
      }
    });
  }

  private async drain(tenantId: string): Promise<void> {
    const queue = this.queues.get(tenantId)!;
    while (queue.length > 0) {
      const waiters: Waiter[] = [];
      let size = 0;
      // One flush, one list of destinations: publishes excluding different destinations go in flushes of their own.
      const exclusion = queue[0].exclude.join('\n');
      while (
        queue.length > 0 &&
        (waiters.length === 0 || (size + queue[0].events.length <= this.maxEventsPerFlush && queue[0].exclude.join('\n') === exclusion))
      ) {
        const waiter = queue.shift()!;
        waiter.flushing = true;
        waiters.push(waiter);
        size += waiter.events.length;
      }
      try {
        // Checked before writing and again before acknowledging: a process that lost the
        // store to another API process acknowledges nothing more.
        this.gate.check();
        const results = await this.flush(tenantId, waiters.flatMap((waiter) => waiter.events), waiters[0].exclude);
        this.gate.check();
        let offset = 0;
        for (const waiter of waiters) {
          waiter.resolve(results.slice(offset, offset + waiter.events.length));
          offset += waiter.events.length;
        }
      } catch (error) {
        log.error('ingest flush failed', { tenantId, events: size, error: errorMessage(error) });
        waiters.forEach((waiter) => waiter.reject(error));
      }
    }
    this.queues.delete(tenantId);
    this.flushing.delete(tenantId);
  }

  private async flush(tenantId: string, events: AuditEvent[], exclude: string[]): Promise<PublishResult[]> {
    // The first occurrence of an id within the flush wins; later ones are duplicates.
    const unique: AuditEvent[] = [];
    const seen = new Set<string>();
    const results = events.map((event) => {
      const duplicate = seen.has(event.id);
      if (!duplicate) {
        seen.add(event.id);
        unique.push(event);
      }
      return { id: event.id, duplicate };
    });

    const allocation = await this.tenants.allocate(tenantId, unique.length);
    ingestFlushes.inc();
    const id = batchId(tenantId, allocation.firstSeq);
    const entry: OutboxDoc = {
      _id: id,
      tenantId,
      firstSeq: allocation.firstSeq,
      lastSeq: allocation.lastSeq,
      count: unique.length,
      destinations: allocation.destinations.filter((destination) => !exclude.includes(destination)),
      createdAt: new Date(),
    };
    // Write order is what makes a crash at any point safe without any read:
    // 1. the outbox entry (a crash right after leaves an entry without batch: the sweeper drops it);
    // 2. the batch (from here on, the sweeper delivers it);
    // 3. the audit log (a crash right after leaves these events there unregistered: a retry of
    //    the publish stores them once more rather than losing them);
    // 4. the registry of ids, whose duplicates are events an earlier publish already put in the
    //    audit log and a batch (both written before its registration): they leave this flush.
    // With no destination enabled the events go to the audit log only.
    const buffered = entry.destinations.length > 0;
    const seqs = unique.map((_, index) => allocation.firstSeq + index);
    if (buffered) {
      await this.events.insertOutbox(entry);
      await this.events.insertBatch({ ...entry, events: unique, seqs, pendingFor: [...entry.destinations] });
    }
    await this.auditLog.append(tenantId, unique, seqs);
    const duplicates = await this.auditLog.register(tenantId, unique, seqs, unique[0]?.receivedAt ?? new Date());
    if (duplicates.size > 0) {
      const duplicateIds = new Set([...duplicates].map((index) => unique[index].id));
      for (const result of results) if (duplicateIds.has(result.id)) result.duplicate = true;
      await this.auditLog.remove(tenantId, [...duplicates].map((index) => ({ id: unique[index].id, seq: seqs[index] })));
    }
    if (!buffered) return results;
    if (duplicates.size === unique.length) {
      await this.events.removeBatch(id);
      await this.events.removeOutbox(id);
      return results;
    }
    if (duplicates.size > 0) {
      const kept = unique.filter((_, index) => !duplicates.has(index));
      await this.events.replaceBatchEvents(id, kept, seqs.filter((_, index) => !duplicates.has(index)));
      entry.count = kept.length;
    }
    this.announcer.announce(entry);
    return results;
  }
}
