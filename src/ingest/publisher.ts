// Group commit: publishes that arrive while a tenant's previous flush is running are written
// together by the next flush — one allocation of numbers, one insert into the audit log, one
// into the id registry, one announcement per destination — so the cost per event falls as load
// rises. A publish resolves once its events are durable in MongoDB.
//
// One flush, in an order that leaves nothing lost wherever it stops:
// 1. it takes its numbers: a seq per event, a chunk number per chunk (src/store/tenants.ts);
// 2. its outbox entry (from here on, a stop leaves the flush to be finished: see `finish`);
// 3. its chunks into the audit log, which is also what destinations read (src/store/audit-log.ts);
// 4. its ids into the registry: those the tenant published before are repeats, answered
//    `duplicate: true` and taken out of this flush's chunks (no reader has been shown them);
// 5. the announcement to the destinations' workflows (the dispatcher removes the entry once told),
//    and its ids to the id index's writer (src/ingest/id-indexer.ts), which `GetEvent` reads.
// A flush that fails after taking its numbers is finished before the tenant's next flush takes
// any: chunk numbers are final in order, which the readers of the log rely on.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, log } from '../log.js';
import type { AuditEvent } from '../model.js';
import { ingestFlushes } from '../metrics.js';
import { splitIntoChunks, type AuditLog, type NewChunk } from '../store/audit-log.js';
import type { OutboxDoc } from '../store/mongo.js';
import type { Outbox } from '../store/outbox.js';
import type { TenantStore } from '../store/tenants.js';
import { subscriptionMatcher, type SubscriptionFilter } from '../subscription/filter.js';

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
  announce(flush: OutboxDoc): void;
}

/** Told each flush once it is final: which chunk holds each of its events (src/ingest/id-indexer.ts). */
export interface FlushIndexer {
  took(tenantId: string, firstChunk: number, endChunk: number, ids: string[], chunks: number[]): void;
}

/** Whether this process may acknowledge events now (it holds the store's ingest lease): throws when not. */
export interface IngestGate {
  check(): void;
}

export class Publisher {
  private readonly queues = new Map<string, Waiter[]>();
  private readonly flushing = new Set<string>();
  /** Outbox entries of flushes under way in this process: the sweeper leaves them alone. */
  private readonly underWay = new Set<string>();
  /** Per tenant, a flush that failed after taking its numbers: finished before the next one. */
  private readonly unfinished = new Map<string, OutboxDoc>();

  constructor(
    private readonly tenants: TenantStore,
    private readonly auditLog: AuditLog,
    private readonly outbox: Outbox,
    private readonly announcer: Announcer,
    private readonly gate: IngestGate,
    private readonly indexer: FlushIndexer,
    /** A publish not durable within this answers PublishTimeout (the caller retries). */
    private readonly timeoutMs = 4_500,
    private readonly maxEventsPerFlush = 5_000,
  ) {}

  /** Whether a flush of this process is writing this outbox entry now. */
  isUnderWay(entryId: string): boolean {
    return this.underWay.has(entryId);
  }

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
      const left = this.unfinished.get(tenantId);
      if (left) {
        try {
          await this.finish(left);
          this.unfinished.delete(tenantId);
        } catch (error) {
          // The store is failing: queued publishes time out with nothing accepted, unless it recovers first.
          log.warn('could not finish an interrupted flush yet; retrying before the next flush', { tenantId, error: errorMessage(error) });
          await sleep(500);
        }
        continue;
      }
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

    const groups = splitIntoChunks(unique);
    const allocation = await this.tenants.allocate(tenantId, unique.length, groups.length);
    ingestFlushes.inc();
    const at = new Date();
    const entry: OutboxDoc = {
      _id: `${tenantId}:${allocation.firstChunk}`,
      tenantId,
      firstSeq: allocation.firstSeq,
      lastSeq: allocation.lastSeq,
      firstChunk: allocation.firstChunk,
      lastChunk: allocation.firstChunk + groups.length - 1,
      count: unique.length,
      destinations: allocation.destinations.filter((destination) => !exclude.includes(destination)),
      createdAt: at,
    };
    // Each chunk keeps the filters its destinations had now: what each of them receives of it, whenever it is read.
    const filters = Object.fromEntries(entry.destinations.flatMap((id) => (allocation.filters[id]?.length ? [[id, allocation.filters[id]]] : [])));
    const chunks: NewChunk[] = [];
    let seq = allocation.firstSeq;
    for (const [index, group] of groups.entries()) {
      const seqs = group.map(() => seq++);
      chunks.push({
        n: entry.firstChunk + index,
        firstSeq: seqs[0],
        lastSeq: seqs[seqs.length - 1],
        at,
        destinations: entry.destinations,
        ...(Object.keys(filters).length > 0 ? { filters } : {}),
        events: group,
        seqs,
      });
    }
    this.underWay.add(entry._id);
    try {
      await this.outbox.insert(entry);
      await this.auditLog.write(tenantId, chunks);
      const duplicates = await this.auditLog.register(tenantId, unique, at);
      if (duplicates.size > 0) {
        const duplicateIds = new Set([...duplicates].map((index) => unique[index].id));
        for (const result of results) if (duplicateIds.has(result.id)) result.duplicate = true;
        for (const chunk of chunks) {
          const kept = chunk.events.flatMap((event, index) => (duplicateIds.has(event.id) ? [] : [index]));
          if (kept.length < chunk.events.length) await this.auditLog.rewrite(tenantId, chunk, kept);
        }
        entry.count -= duplicates.size;
      }
      if (entry.count === 0) await this.outbox.remove([entry._id]);
      else this.announcer.announce({ ...entry, ...receivers(entry.destinations, filters, unique.filter((_, index) => !duplicates.has(index))) });
      const chunkOf = chunks.flatMap((chunk) => chunk.events.map(() => chunk.n));
      const kept = unique.flatMap((event, index) => (duplicates.has(index) ? [] : [index]));
      this.indexer.took(tenantId, entry.firstChunk, entry.lastChunk + 1, kept.map((index) => unique[index].id), kept.map((index) => chunkOf[index]));
      return results;
    } catch (error) {
      this.unfinished.set(tenantId, entry);
      throw error;
    } finally {
      this.underWay.delete(entry._id);
    }
  }

  /**
   * Finishes a flush that stopped after taking its numbers (a crash, a store error): the chunks
   * it wrote are registered as they are — keeping every event, so an event whose publish may
   * have been acknowledged is never taken out (an id published before and again in that flush
   * is then in the log twice) — and announced; a flush that wrote no chunk leaves only its entry,
   * which goes. Safe to run again.
   */
  async finish(entry: OutboxDoc): Promise<void> {
    const numbers = Array.from({ length: entry.lastChunk - entry.firstChunk + 1 }, (_, index) => entry.firstChunk + index);
    const chunks = (await this.auditLog.chunks(entry.tenantId, numbers)).filter((chunk) => chunk !== undefined);
    if (chunks.length === 0) {
      await this.outbox.remove([entry._id]);
      return;
    }
    for (const chunk of chunks) await this.auditLog.register(entry.tenantId, chunk.events, chunk.at);
    const first = chunks[0];
    const last = chunks[chunks.length - 1];
    const events = chunks.flatMap((chunk) => chunk.events);
    log.info('finishing an interrupted flush', { tenantId: entry.tenantId, firstChunk: first.n, events: events.length });
    this.indexer.took(
      entry.tenantId,
      entry.firstChunk,
      entry.lastChunk + 1,
      events.map((event) => event.id),
      chunks.flatMap((chunk) => chunk.events.map(() => chunk.n)),
    );
    this.announcer.announce({
      ...entry,
      firstSeq: first.firstSeq,
      lastSeq: last.lastSeq,
      firstChunk: first.n,
      lastChunk: last.n,
      count: events.length,
      ...receivers(entry.destinations, first.filters ?? {}, events),
    });
  }
}

/**
 * Which of a flush's destinations receive any of its events, and how many the filtered ones
 * receive (the count their workflows owe; the others receive them all). A destination whose
 * filters leave none is not told about the flush at all.
 */
function receivers(destinations: string[], filters: Record<string, SubscriptionFilter[]>, events: AuditEvent[]): Pick<OutboxDoc, 'destinations' | 'counts'> {
  const counts: Record<string, number> = {};
  for (const id of destinations) {
    if (!filters[id]) continue;
    const receives = subscriptionMatcher(filters[id]);
    counts[id] = events.reduce((count, event) => count + (receives(event) ? 1 : 0), 0);
  }
  if (Object.keys(counts).length === 0) return { destinations };
  return { destinations: destinations.filter((id) => counts[id] !== 0), counts };
}
