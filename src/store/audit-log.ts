// The audit log: every event a tenant published, in acceptance order. It is also the delivery
// buffer: a destination's deliveries read their events from here, so an event is written once.
//
// Cost first (FerretDB 1.24 on SQLite, measured; the table is in docs/store.md): an insert is
// cheap; a find, update or delete by exact `_id` scans the collection in insertion order until
// it meets the document (≈1–15 µs per document passed, by its size); every other filter decodes
// every document (≈17 ns per byte); dropping a collection is cheap at any size. So every read
// here is a point read of a document whose `_id` is known, in a collection of bounded size.
//
// Chunks. Each ingest flush writes its events as one or more chunks: a document holding up to
// 1,000 events as one compressed payload, numbered by the tenant's chunk counter (0, 1, 2, …,
// taken with the sequence numbers; src/store/tenants.ts). Chunk n lives in the collection
// `log_<tenant key>_<p>`, p = ⌊n / chunksPerPartition⌋, with `_id` = n zero-padded. A delivery
// reads the chunks its pending ranges name, a page reads forward from its cursor's chunk, an
// export streams them; each read costs what it reads, never what the log holds. Reads run a few
// at a time in parallel, and the worker keeps recently read chunks decoded (destinations of one
// tenant read the same ones). Retention drops whole partitions and deletes single chunks from
// the start of the log, moving the tenant's floor (the first chunk there can be).
//
// Chunk numbers are taken one flush at a time per tenant by the one process holding the ingest
// lease, and a flush is finished (sealed) before the next one takes numbers: so every chunk
// below the newest is final — written as it stays, or never written (a flush that died before
// writing it, or held only repeats) — and readers skip missing ones. The newest is shown once it
// is older than the settle time, by when its flush has finished.
//
// Which ids a tenant has published is its registry, in week-long generations by acceptance time
// (`ids_<tenant key>_<generation>`, `_id` = event id). It is only ever inserted into: an insert's
// unique `_id` finds a repeat without reading the collection. An id repeated in the same
// generation is a duplicate key; within the first day of a generation the previous one is asked
// too, by inserting into it. So a repeat is recognised for at least a day (in practice until the
// end of the next generation), and retention drops whole generations. The registry is never
// read: where an event is, `GetEvent` learns from the id index (src/store/id-index.ts), whose
// lookups do not pass every id of a week.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, gunzip, gzip } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { BSON, Binary, type Collection, type Db } from 'mongodb';
import type { AuditEvent, AuditFilter } from '../model.js';
import { IdIndex } from './id-index.js';
import { insertNew, type Collections } from './mongo.js';
import { subscriptionMatcher, type SubscriptionFilter } from '../subscription/filter.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A chunk as stored: its events are the compressed BSON of `{ events, seqs }`. */
export interface ChunkDoc {
  _id: string;
  /** The seqs the chunk's flush allocated to it: its events' seqs lie within (repeats taken out leave gaps). */
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** When its flush was accepted. */
  at: Date;
  /** The destinations its events go to (enabled when the flush took its numbers, less those excluded). */
  destinations: string[];
  /** The filters of those destinations that had some when the flush took its numbers: which events each receives. */
  filters?: Record<string, SubscriptionFilter[]>;
  payload: Binary;
}

export type SeqEvent = AuditEvent & { seq: number };

/** A chunk as read: its events decoded, in seq order. */
export interface Chunk {
  n: number;
  firstSeq: number;
  lastSeq: number;
  at: Date;
  destinations: string[];
  filters?: Record<string, SubscriptionFilter[]>;
  events: SeqEvent[];
}


/** Sequence numbers from `from` to `to`, both included. */
export interface SeqRange {
  from?: number;
  to?: number;
}

/** Where a reader of the log stands: every event up to `seq` is behind it; the next one is in chunk `chunk` or later. */
export interface LogPosition {
  seq: number;
  chunk: number;
}

export interface AuditPage {
  events: SeqEvent[];
  /** Where the next page starts. */
  next: LogPosition;
  /** Whether more matching events may already be there (the page or the scan budget is full). */
  more: boolean;
}

export interface AuditLogOptions {
  /** Chunks per partition collection: what bounds the cost of a point read on FerretDB. */
  chunksPerPartition: number;
  /** The newest chunk is shown once it is this old (its flush has finished by then). */
  settleMs: number;
  /** Most events one page call reads, matching or not: a rare filter pages on, never scans the whole log at once. */
  scanBudget: number;
  /** Decoded events kept in memory for readers that come back to the same chunks (0: none). */
  cacheEvents: number;
}

/** Most events in one chunk, and most bytes of them (as BSON, before compression): far under a document's 16 MiB. */
export const chunkLimits = { events: 1_000, bytes: 4 * 1024 * 1024 } as const;

/** Chunk reads in flight at once for one reader: enough to hide round trips, few enough to leave the pool to others. */
const readWindow = 8;

/**
 * From this many chunks of one partition on, a reader asks for them with one range query rather
 * than one point read each: on FerretDB a point read passes the documents before its own, a
 * range query decodes the (bounded) partition once; on MongoDB both are `_id` index lookups.
 */
const rangeReadFrom = 16;

/** Most chunks a forward read holds at once: what bounds an export's memory (up to 16,000 events). */
const maxForwardWindow = 16;

/** A chunk's `_id`: its number, zero-padded so that ids sort as numbers do (a range of chunks is a range of ids). */
export function chunkId(n: number): string {
  return String(n).padStart(12, '0');
}

/** The registry's generations: a week of acceptance each. */
const generationMs = 7 * 86_400_000;
/** How long into a generation a repeat is also looked for in the one before. */
const generationOverlapMs = 86_400_000;

export function generationOf(at: Date): number {
  return Math.floor(at.getTime() / generationMs);
}

/** The collection-name-safe key of a tenant (ids may hold any character). */
export function tenantKey(tenantId: string): string {
  return createHash('sha256').update(tenantId).digest('hex').slice(0, 16);
}

/** One event id in the registry. */
interface RegistryDoc {
  _id: string;
}

/** Splits a flush's events into chunks within `chunkLimits`, in order. */
export function splitIntoChunks<T extends AuditEvent>(events: T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = BSON.calculateObjectSize(event as unknown as BSON.Document);
    if (current.length > 0 && (current.length >= chunkLimits.events || bytes + size > chunkLimits.bytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function encode(events: AuditEvent[], seqs: number[]): Promise<Binary> {
  // Level 1: most of the size win for a fraction of the CPU of the default level.
  return new Binary(await gzipAsync(BSON.serialize({ events, seqs }), { level: constants.Z_BEST_SPEED }));
}

async function decode(doc: ChunkDoc): Promise<Chunk> {
  const { events, seqs } = BSON.deserialize(await gunzipAsync(doc.payload.buffer)) as { events: AuditEvent[]; seqs: number[] };
  return {
    n: Number(doc._id),
    firstSeq: doc.firstSeq,
    lastSeq: doc.lastSeq,
    at: doc.at,
    destinations: doc.destinations,
    ...(doc.filters ? { filters: doc.filters } : {}),
    events: events.map((event, index) => ({ ...event, seq: seqs[index] })),
  };
}

/** Which of a chunk's events a destination receives: its filters when the chunk's flush took its numbers. */
export function receivedBy(chunk: Chunk, destinationId: string): (event: AuditEvent) => boolean {
  return subscriptionMatcher(chunk.filters?.[destinationId]);
}

/** Whether an event passes a filter (the same rules on every store: chunks are filtered here, not in the database). */
export function matches(event: AuditEvent, filter: AuditFilter): boolean {
  if (filter.occurredAfter && event.occurredAt < filter.occurredAfter) return false;
  if (filter.occurredBefore && event.occurredAt >= filter.occurredBefore) return false;
  if (filter.action && event.action !== filter.action) return false;
  if (filter.actionPrefix && !event.action.startsWith(filter.actionPrefix)) return false;
  if (filter.actorId && event.actor?.id !== filter.actorId) return false;
  if (filter.resourceType && event.resource?.type !== filter.resourceType) return false;
  if (filter.resourceId && event.resource?.id !== filter.resourceId) return false;
  if (filter.outcome && event.outcome !== filter.outcome) return false;
  if (filter.outcomes && !filter.outcomes.includes(event.outcome)) return false;
  if (filter.subjectId && event.actor?.id !== filter.subjectId && event.resource?.id !== filter.subjectId) return false;
  return true;
}

/** A chunk to write: numbered, with its events and their seqs. */
export type NewChunk = Omit<Chunk, 'events'> & { events: AuditEvent[]; seqs: number[] };

export class AuditLog {
  private readonly cache: LRUCache<string, Chunk> | undefined;
  /** Reads under way, by chunk: a tenant's destinations deliver the same new chunks at the same moment, and read them once. */
  private readonly reading = new Map<string, Promise<Chunk | undefined>>();
  /** Where each event id is: written by the leading API process (src/ingest/id-indexer.ts). */
  readonly ids: IdIndex;

  constructor(
    private readonly db: Db,
    private readonly collections: Pick<Collections, 'tenants' | 'logFloors'>,
    readonly options: AuditLogOptions,
  ) {
    this.ids = new IdIndex(db);
    this.cache =
      options.cacheEvents > 0 ? new LRUCache<string, Chunk>({ maxSize: options.cacheEvents, sizeCalculation: (chunk) => Math.max(1, chunk.events.length) }) : undefined;
  }

  private partition(tenantId: string, n: number): Collection<ChunkDoc> {
    return this.db.collection<ChunkDoc>(`log_${tenantKey(tenantId)}_${Math.floor(n / this.options.chunksPerPartition)}`);
  }

  private registry(tenantId: string, generation: number): Collection<RegistryDoc> {
    return this.db.collection<RegistryDoc>(`ids_${tenantKey(tenantId)}_${generation}`);
  }

  // ---- writing (the publisher, in the process holding the ingest lease) ----

  /** Inserts new chunks: one insert per partition they fall in. */
  async write(tenantId: string, chunks: NewChunk[]): Promise<void> {
    const byPartition = new Map<string, { collection: Collection<ChunkDoc>; docs: ChunkDoc[] }>();
    for (const chunk of chunks) {
      const collection = this.partition(tenantId, chunk.n);
      const entry = byPartition.get(collection.collectionName) ?? { collection, docs: [] };
      entry.docs.push(await this.docOf(chunk));
      byPartition.set(collection.collectionName, entry);
    }
    for (const { collection, docs } of byPartition.values()) await collection.insertMany(docs);
  }

  private async docOf(chunk: NewChunk): Promise<ChunkDoc> {
    return {
      _id: chunkId(chunk.n),
      firstSeq: chunk.firstSeq,
      lastSeq: chunk.lastSeq,
      count: chunk.events.length,
      at: chunk.at,
      destinations: chunk.destinations,
      ...(chunk.filters ? { filters: chunk.filters } : {}),
      payload: await encode(chunk.events, chunk.seqs),
    };
  }

  /** Leaves only `kept` in a chunk that no reader has been shown yet (a flush taking repeats out); none left, it goes. */
  async rewrite(tenantId: string, chunk: NewChunk, kept: number[]): Promise<void> {
    const collection = this.partition(tenantId, chunk.n);
    if (kept.length === 0) {
      await collection.deleteOne({ _id: chunkId(chunk.n) });
      this.cache?.delete(this.cacheKey(tenantId, chunk.n));
      return;
    }
    const doc = await this.docOf({ ...chunk, events: kept.map((index) => chunk.events[index]), seqs: kept.map((index) => chunk.seqs[index]) });
    await collection.updateOne({ _id: doc._id }, { $set: { count: doc.count, payload: doc.payload } });
    this.cache?.delete(this.cacheKey(tenantId, chunk.n));
  }

  /**
   * Registers the ids of a flush's events and answers the indexes of those the tenant had
   * published before. A repeat within the flush is left to the caller.
   */
  async register(tenantId: string, events: AuditEvent[], at: Date): Promise<Set<number>> {
    const duplicates = new Set<number>();
    const generation = generationOf(at);
    const docs = events.map((event) => ({ _id: event.id }));
    // The previous generation first: an id found there must not be registered anew in this one
    // (its entry would name the copy about to be taken out). Inserting there leaves extra
    // entries of this generation's ids, which go with it.
    if (at.getTime() - generation * generationMs < generationOverlapMs) {
      for (const index of await insertNew(this.registry(tenantId, generation - 1), docs)) duplicates.add(index);
    }
    const fresh = docs.map((doc, index) => ({ doc, index })).filter(({ index }) => !duplicates.has(index));
    for (const at of await insertNew(this.registry(tenantId, generation), fresh.map(({ doc }) => doc))) duplicates.add(fresh[at].index);
    return duplicates;
  }

  // ---- reading ----

  private cacheKey(tenantId: string, n: number): string {
    return `${tenantKey(tenantId)}:${n}`;
  }

  private async decoded(tenantId: string, doc: ChunkDoc, remember: boolean): Promise<Chunk> {
    const chunk = await decode(doc);
    if (remember) this.cache?.set(this.cacheKey(tenantId, chunk.n), chunk);
    return chunk;
  }

  /** Chunk `n`, or undefined when there is none (never written, taken out, or expired). */
  async chunk(tenantId: string, n: number): Promise<Chunk | undefined> {
    return (await this.chunks(tenantId, [n]))[0];
  }

  /**
   * Chunks by number, in the order asked (undefined where there is none): from the cache, from
   * a read of them already under way, by point reads a window at a time, or — many of one
   * partition — by one range query. What is read is kept in the cache unless `remember` is
   * false (a scan of the whole log would only push out what deliveries are about to read).
   */
  async chunks(tenantId: string, numbers: number[], { remember = true } = {}): Promise<(Chunk | undefined)[]> {
    const found = new Map<number, Promise<Chunk | undefined>>();
    const byPartition = new Map<number, number[]>();
    for (const n of numbers) {
      const key = this.cacheKey(tenantId, n);
      const known = this.cache?.get(key) ?? this.reading.get(key);
      if (known) {
        found.set(n, Promise.resolve(known));
        continue;
      }
      const partition = Math.floor(n / this.options.chunksPerPartition);
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), n]);
    }
    const pointReads: number[] = [];
    for (const wanted of byPartition.values()) {
      if (wanted.length < rangeReadFrom) pointReads.push(...wanted);
      else this.share(tenantId, wanted, this.rangeRead(tenantId, wanted, remember), found);
    }
    for (let i = 0; i < pointReads.length; i += readWindow) {
      const window = pointReads.slice(i, i + readWindow);
      const reads = window.map((n) => this.share(tenantId, [n], this.pointRead(tenantId, n, remember), found));
      await Promise.all(reads);
    }
    return Promise.all(numbers.map((n) => found.get(n)!));
  }

  /** Lets other readers wait for a read under way of `numbers`, and `found` have its results. */
  private share(tenantId: string, numbers: number[], read: Promise<Map<number, Chunk>>, found: Map<number, Promise<Chunk | undefined>>): Promise<unknown> {
    for (const n of numbers) {
      const key = this.cacheKey(tenantId, n);
      const one = read.then((chunks) => chunks.get(n));
      this.reading.set(key, one);
      found.set(n, one);
      // Readers await it; when the read ends, later ones go to the cache (or read again after an error).
      const done = () => void (this.reading.get(key) === one && this.reading.delete(key));
      one.then(done, done);
    }
    return read;
  }

  private async pointRead(tenantId: string, n: number, remember: boolean): Promise<Map<number, Chunk>> {
    const doc = await this.partition(tenantId, n).findOne({ _id: chunkId(n) });
    return new Map(doc ? [[n, await this.decoded(tenantId, doc, remember)]] : []);
  }

  private async rangeRead(tenantId: string, wanted: number[], remember: boolean): Promise<Map<number, Chunk>> {
    const [first, last] = [Math.min(...wanted), Math.max(...wanted)];
    const docs = await this.partition(tenantId, first).find({ _id: { $gte: chunkId(first), $lte: chunkId(last) } }).toArray();
    return new Map(await Promise.all(docs.map(async (doc): Promise<[number, Chunk]> => [Number(doc._id), await this.decoded(tenantId, doc, remember)])));
  }

  /**
   * The chunks `from`, `from + 1`, … up to the newest shown one, as they come (missing ones
   * skipped). Reads a window ahead, widening it as the reader goes on (a page usually needs a
   * chunk or two, an export all of them); stops at the newest chunk until it has settled.
   */
  private async *forward(tenantId: string, from: number, now = new Date()): AsyncGenerator<Chunk> {
    const { head } = await this.bounds(tenantId);
    for (let n = from, window = 2; n < head; n += window, window = Math.min(window * 2, maxForwardWindow)) {
      const numbers = Array.from({ length: Math.min(window, head - n) }, (_, i) => n + i);
      for (const chunk of await this.chunks(tenantId, numbers, { remember: false })) {
        if (!chunk) continue;
        if (chunk.n === head - 1 && chunk.at.getTime() > now.getTime() - this.options.settleMs) return;
        yield chunk;
      }
    }
  }

  /** The first chunk that may be there (`floor`: retention took the ones before) and the number the next flush takes (`head`). */
  async bounds(tenantId: string): Promise<{ floor: number; head: number }> {
    const [tenant, floor] = await Promise.all([
      this.collections.tenants.findOne({ _id: tenantId }, { projection: { chunks: 1 } }),
      this.collections.logFloors.findOne({ _id: tenantId }),
    ]);
    return { floor: floor?.chunk ?? 0, head: tenant?.chunks ?? 0 };
  }

  /** The first chunk holding `seq` or a later one (the chunk count when there is none): a binary search of point reads. */
  async chunkAt(tenantId: string, seq: number): Promise<number> {
    const { floor, head } = await this.bounds(tenantId);
    // The answer stays within [lo, hi], or lies past a run of missing chunks that ends the search at lo.
    let lo = floor;
    let hi = head;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const probe = await this.firstFrom(tenantId, mid, hi);
      if (!probe) hi = mid;
      else if (probe.lastSeq < seq) lo = probe.n + 1;
      else hi = probe.n;
    }
    return (await this.firstFrom(tenantId, lo, head))?.n ?? head;
  }

  /** The first chunk from `from` (inclusive) to `to` (exclusive) that is there. */
  private async firstFrom(tenantId: string, from: number, to: number): Promise<Chunk | undefined> {
    for (let n = from; n < to; n += readWindow) {
      const found = (await this.chunks(tenantId, Array.from({ length: Math.min(readWindow, to - n) }, (_, i) => n + i))).find(Boolean);
      if (found) return found;
    }
    return undefined;
  }

  /** The last shown position of the log: an export or a backfill holds what was there when it started. */
  async shownThrough(tenantId: string, now = new Date()): Promise<LogPosition> {
    const { floor, head } = await this.bounds(tenantId);
    for (let n = head - 1; n >= floor && n >= head - 2; n--) {
      const chunk = await this.chunk(tenantId, n);
      if (!chunk) continue;
      if (n === head - 1 && chunk.at.getTime() > now.getTime() - this.options.settleMs) continue;
      return { seq: chunk.lastSeq, chunk: n };
    }
    // Both newest chunks missing or unsettled: the one before them is final.
    const earlier = head - 3 >= floor ? await this.lastFrom(tenantId, floor, head - 2) : undefined;
    return earlier ? { seq: earlier.lastSeq, chunk: earlier.n } : { seq: 0, chunk: floor - 1 };
  }

  /** The last chunk below `to` and at or above `from` that is there. */
  private async lastFrom(tenantId: string, from: number, to: number): Promise<Chunk | undefined> {
    for (let n = to - 1; n >= from; n -= readWindow) {
      const numbers = Array.from({ length: Math.min(readWindow, n - from + 1) }, (_, i) => n - i);
      const found = (await this.chunks(tenantId, numbers)).find(Boolean);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * Matching events after `after`, in acceptance order: at most `limit`, reading at most the
   * scan budget of events, and never the newest chunk before it has settled.
   */
  async page(tenantId: string, filter: AuditFilter, after: { seq: number; chunk?: number }, limit: number, now = new Date()): Promise<AuditPage> {
    const { floor } = await this.bounds(tenantId);
    // A cursor older than what retention left goes on from the first chunk there is.
    const start = Math.max(floor, after.chunk ?? floor);
    const events: SeqEvent[] = [];
    let next: LogPosition = { seq: after.seq, chunk: start };
    let scanned = 0;
    for await (const chunk of this.forward(tenantId, start, now)) {
      for (const event of chunk.events) {
        if (event.seq <= after.seq || !matches(event, filter)) continue;
        events.push(event);
        if (events.length === limit) return { events, next: { seq: event.seq, chunk: chunk.n }, more: true };
      }
      next = { seq: Math.max(after.seq, chunk.lastSeq), chunk: chunk.n + 1 };
      scanned += chunk.events.length;
      if (scanned >= this.options.scanBudget) return { events, next, more: true };
    }
    return { events, next, more: false };
  }

  /**
   * Matching events before `before` (none: from the newest shown), newest first: at most
   * `limit`, reading at most the scan budget of events, chunk by chunk down to the floor.
   * `next` is the last event given (or the first seq of the last chunk read) and its chunk.
   */
  async pageBackward(tenantId: string, filter: AuditFilter, before: LogPosition | undefined, limit: number, now = new Date()): Promise<AuditPage> {
    const { floor } = await this.bounds(tenantId);
    const shown = await this.shownThrough(tenantId, now);
    // (A position's chunk is never below 0: read to the start, a cursor stays at chunk 0 and finds nothing more.)
    const bound = before ?? { seq: shown.seq + 1, chunk: Math.max(0, shown.chunk) };
    const events: SeqEvent[] = [];
    let next: LogPosition = bound;
    let scanned = 0;
    for (let n = Math.min(bound.chunk, shown.chunk); n >= floor; n -= readWindow) {
      const numbers = Array.from({ length: Math.min(readWindow, n - floor + 1) }, (_, i) => n - i);
      for (const chunk of await this.chunks(tenantId, numbers, { remember: false })) {
        if (!chunk) continue;
        for (let i = chunk.events.length - 1; i >= 0; i--) {
          const event = chunk.events[i];
          if (event.seq >= bound.seq || !matches(event, filter)) continue;
          events.push(event);
          if (events.length === limit) return { events, next: { seq: event.seq, chunk: chunk.n }, more: true };
        }
        next = { seq: Math.min(bound.seq, chunk.firstSeq), chunk: Math.max(0, chunk.n - 1) };
        scanned += chunk.events.length;
        if (scanned >= this.options.scanBudget) return { events, next, more: chunk.n > floor };
      }
    }
    return { events, next, more: false };
  }

  /** Every matching event with a seq in [from, to], in acceptance order, a chunk's worth at a time (bounded memory). */
  async *batches(tenantId: string, filter: AuditFilter, { from = 0, to = Infinity }: SeqRange = {}): AsyncGenerator<SeqEvent[]> {
    const start = from > 0 ? await this.chunkAt(tenantId, from) : (await this.bounds(tenantId)).floor;
    for await (const chunk of this.forward(tenantId, start)) {
      if (chunk.firstSeq > to) return;
      const batch = chunk.events.filter((event) => event.seq >= from && event.seq <= to && matches(event, filter));
      if (batch.length > 0) yield batch;
    }
  }

  /** Every matching event with a seq in [from, to], in acceptance order. */
  async *stream(tenantId: string, filter: AuditFilter, range: SeqRange = {}): AsyncGenerator<SeqEvent> {
    for await (const batch of this.batches(tenantId, filter, range)) yield* batch;
  }

  /** The first `limit` matching events with a seq in [from, to]. */
  async read(tenantId: string, filter: AuditFilter, range: SeqRange, limit: number): Promise<SeqEvent[]> {
    const events: SeqEvent[] = [];
    for await (const event of this.stream(tenantId, filter, range)) {
      events.push(event);
      if (events.length >= limit) break;
    }
    return events;
  }

  /** How many events match, with a seq in [from, to]. */
  async count(tenantId: string, filter: AuditFilter, range: SeqRange = {}): Promise<number> {
    let total = 0;
    for await (const _ of this.stream(tenantId, filter, range)) total++;
    return total;
  }

  /**
   * An event by id, once the id index has taken it (about a second after its acceptance): the
   * index names the chunks that may hold it, oldest first (an id in the log twice — a flush
   * finished after a crash keeps its repeats — is its first).
   */
  async get(tenantId: string, eventId: string): Promise<SeqEvent | undefined> {
    for (const n of await this.ids.candidates(tenantKey(tenantId), eventId)) {
      const event = (await this.chunk(tenantId, n))?.events.find((candidate) => candidate.id === eventId);
      if (event) return event;
    }
    return undefined;
  }

  /** The tenant's registry generations, oldest first. */
  private async generations(tenantId: string): Promise<number[]> {
    const prefix = `ids_${tenantKey(tenantId)}_`;
    const names = await this.db.listCollections({ name: { $regex: `^${prefix}` } }, { nameOnly: true }).toArray();
    return names
      .map(({ name }) => Number(name.slice(prefix.length)))
      .filter(Number.isInteger)
      .sort((a, b) => a - b);
  }

  // ---- retention ----

  /**
   * Removes chunks accepted before `before`, from the start of the log: a partition all of whose
   * chunks are older is dropped whole, and in the first one that is not, its older chunks one by
   * one (they are its first documents: cheap to delete). At most `maxPartitions` partitions per
   * call; `done` says whether nothing expired remains. Then the registry generations whose week
   * has expired. Records the new floor.
   */
  async expire(tenantId: string, before: Date, maxPartitions: number): Promise<{ deleted: number; done: boolean }> {
    const bounds = await this.bounds(tenantId);
    const size = this.options.chunksPerPartition;
    let floor = bounds.floor;
    let deleted = 0;
    let done = false;
    for (let partitions = 0; !done && partitions < maxPartitions && floor < bounds.head; partitions++) {
      const collection = this.partition(tenantId, floor);
      const partitionEnd = (Math.floor(floor / size) + 1) * size;
      const docs = (await collection.find({}, { projection: { at: 1, count: 1 } }).toArray())
        .map((doc) => ({ n: Number(doc._id), at: doc.at, count: doc.count }))
        .filter((doc) => doc.n >= floor)
        .sort((a, b) => a.n - b.n);
      const firstKept = docs.findIndex((doc) => doc.at >= before);
      // A partition no flush writes into any more, all expired: dropped whole. (The newest
      // partition is never dropped: a flush may be writing into it.)
      if (firstKept === -1 && partitionEnd <= bounds.head) {
        await collection.drop().catch(() => undefined);
        deleted += docs.reduce((sum, doc) => sum + doc.count, 0);
        floor = partitionEnd;
        continue;
      }
      const gone = firstKept === -1 ? docs : docs.slice(0, firstKept);
      for (const doc of gone) {
        await collection.deleteOne({ _id: chunkId(doc.n) });
        this.cache?.delete(this.cacheKey(tenantId, doc.n));
        deleted += doc.count;
      }
      // The floor passes only chunks seen and deleted: one being written now stays above it.
      if (gone.length > 0) floor = gone[gone.length - 1].n + 1;
      done = true;
    }
    if (floor !== bounds.floor) {
      await this.collections.logFloors.updateOne({ _id: tenantId }, { $set: { chunk: floor } }, { upsert: true });
      await this.ids.expire(tenantKey(tenantId), floor);
    }
    done ||= floor >= bounds.head;
    // The registry forgets the generations whose whole week has expired; the one holding the
    // cutoff keeps its expired ids until it goes too (a repeat of one of them is a duplicate).
    for (const generation of await this.generations(tenantId)) {
      if ((generation + 1) * generationMs > before.getTime()) break;
      await this.registry(tenantId, generation).drop();
    }
    return { deleted, done };
  }
}

