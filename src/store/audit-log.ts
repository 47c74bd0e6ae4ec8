// The audit log: every event a tenant published, in acceptance (sequence) order.
//
// Layout. FerretDB 1.24 answers every query by reading the whole collection, so one growing
// collection would make every query slower with every event ever accepted. The log is
// therefore partitioned by sequence: the tenant's events with seq in [k·P, (k+1)·P) live in
// the collection `audit_<tenant key>_<k>` (P = AUDITSTREAM_AUDIT_PARTITION_EVENTS, 50,000 by
// default). A query reads only the partitions its cursor and time range reach, at most a
// scan budget per call; an export streams partitions one after another; retention drops
// whole partitions. On MongoDB each partition's indexes make every query an index range
// (`seq`, `action`+`seq`, `occurredAt`); declaring them works on FerretDB too
// (test/integration/store-compat.test.ts).
//
// Which ids a tenant has published is its registry, in week-long generations by acceptance
// time (`ids_<tenant key>_<generation>`, `_id` = event id). It is only ever inserted into:
// FerretDB answers an insert's unique `_id` without reading the collection, while any query
// or delete other than a find by `_id` reads all of it (a 1,000,000-id registry: tens of
// seconds). An id repeated in the same generation is a duplicate key; within the first day
// of a generation the previous one is asked too, by inserting into it. So a repeat is
// recognised for at least a day (in practice until the end of the next generation), and
// retention drops whole generations, never deleting ids one by one.
import { createHash } from 'node:crypto';
import { MongoBulkWriteError, type Collection, type Db, type Filter, type OptionalUnlessRequiredId } from 'mongodb';
import type { AuditEvent, EventOutcome } from '../model.js';
import { deleteBySeqWindows } from './mongo.js';

/** One event as the audit log stores it: the event, its `seq`; `_id` is the event id. */
export interface AuditDoc extends Omit<AuditEvent, 'id'> {
  _id: string;
  seq: number;
}

export interface AuditFilter {
  occurredAfter?: Date;
  occurredBefore?: Date;
  action?: string;
  actionPrefix?: string;
  actorId?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: EventOutcome;
  /** The actor or the resource is this id. */
  subjectId?: string;
}

/** Sequence numbers from `from` to `to`, both included. */
export interface SeqRange {
  from?: number;
  to?: number;
}

function seqBounds({ from = 0, to = Infinity }: SeqRange) {
  return { $gte: from, ...(to === Infinity ? {} : { $lte: to }) };
}

export interface AuditPage {
  events: (AuditEvent & { seq: number })[];
  /** The seq up to which the log was read: the next page starts after it. */
  readThrough: number;
  /** Whether more matching events may already be there (the page or the scan budget is full). */
  more: boolean;
}

export interface AuditLogOptions {
  /** Events per partition. */
  partitionEvents: number;
  /** A page never shows events accepted more recently than this (see `page`). */
  settleMs: number;
  /** Most events one page call reads, matching or not: a rare filter pages on, never scans the whole log at once. */
  scanBudget: number;
}

const duplicateKey = 11000;

/** One event id in the registry: where its event is. */
interface RegistryDoc {
  _id: string;
  seq: number;
}

/** The registry's generations: a week of acceptance each. */
const generationMs = 7 * 86_400_000;
/** How long into a generation a repeat is also looked for in the one before. */
const generationOverlapMs = 86_400_000;

export function generationOf(receivedAt: Date): number {
  return Math.floor(receivedAt.getTime() / generationMs);
}

/** The collection-name-safe key of a tenant (ids may hold any character). */
export function tenantKey(tenantId: string): string {
  return createHash('sha256').update(tenantId).digest('hex').slice(0, 16);
}

const partitionIndexes = [
  { name: 'seq', key: { seq: 1 }, unique: true },
  { name: 'action_seq', key: { action: 1, seq: 1 } },
  { name: 'occurred_at', key: { occurredAt: 1 } },
] as const;

export function eventsFilter(filter: AuditFilter): Filter<AuditDoc> {
  const query: Filter<AuditDoc> = {};
  if (filter.occurredAfter || filter.occurredBefore) {
    query.occurredAt = { ...(filter.occurredAfter ? { $gte: filter.occurredAfter } : {}), ...(filter.occurredBefore ? { $lt: filter.occurredBefore } : {}) };
  }
  if (filter.action) query.action = filter.action;
  // A prefix as a range, not a regex: `user.` is ["user.", "user/") — an index range on MongoDB.
  else if (filter.actionPrefix) query.action = { $gte: filter.actionPrefix, $lt: prefixEnd(filter.actionPrefix) };
  if (filter.actorId) query['actor.id'] = filter.actorId;
  if (filter.resourceType) query['resource.type'] = filter.resourceType;
  if (filter.resourceId) query['resource.id'] = filter.resourceId;
  if (filter.outcome) query.outcome = filter.outcome;
  if (filter.subjectId) query.$or = [{ 'actor.id': filter.subjectId }, { 'resource.id': filter.subjectId }];
  return query;
}

function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

const toEvent = ({ _id, ...doc }: AuditDoc): AuditEvent & { seq: number } => ({ id: _id, ...doc });

export class AuditLog {
  /** Partitions known to exist, with their indexes: created once per process. */
  private readonly created = new Set<string>();

  constructor(
    private readonly db: Db,
    readonly options: AuditLogOptions,
  ) {}

  partitionOf(seq: number): number {
    return Math.floor(seq / this.options.partitionEvents);
  }

  private name(tenantId: string, partition: number): string {
    return `audit_${tenantKey(tenantId)}_${partition}`;
  }

  private partition(tenantId: string, partition: number): Collection<AuditDoc> {
    return this.db.collection<AuditDoc>(this.name(tenantId, partition));
  }

  /** The tenant's partitions, oldest first. */
  partitions(tenantId: string): Promise<number[]> {
    return this.numbered(`audit_${tenantKey(tenantId)}_`);
  }

  /** The tenant's registry generations, oldest first. */
  generations(tenantId: string): Promise<number[]> {
    return this.numbered(`ids_${tenantKey(tenantId)}_`);
  }

  private registry(tenantId: string, generation: number): Collection<RegistryDoc> {
    return this.db.collection<RegistryDoc>(`ids_${tenantKey(tenantId)}_${generation}`);
  }

  /** The numbers of the collections named `<prefix><n>`, ascending. */
  private async numbered(prefix: string): Promise<number[]> {
    const names = await this.db.listCollections({}, { nameOnly: true }).toArray();
    return names
      .map(({ name }) => name)
      .filter((name) => name.startsWith(prefix))
      .map((name) => Number(name.slice(prefix.length)))
      .filter(Number.isInteger)
      .sort((a, b) => a - b);
  }

  private async ensurePartition(tenantId: string, partition: number): Promise<Collection<AuditDoc>> {
    const name = this.name(tenantId, partition);
    const collection = this.partition(tenantId, partition);
    if (this.created.has(name)) return collection;
    // FerretDB 1.24 drops the connection when asked to create an index that exists: ask only for missing ones.
    const existing = new Set((await collection.listIndexes().toArray().catch(() => [])).map((index) => index.name as string));
    const missing = partitionIndexes.filter((index) => !existing.has(index.name));
    if (missing.length > 0) {
      await collection.createIndexes(missing.map(({ name: indexName, key, ...rest }) => ({ name: indexName, key: { ...key }, ...rest })));
    }
    this.created.add(name);
    return collection;
  }

  /**
   * Registers the ids of a flush (seqs already allocated) and answers the indexes of those the
   * tenant had published before. A repeated id in the same flush is left to the caller.
   */
  async register(tenantId: string, events: AuditEvent[], seqs: number[], receivedAt: Date): Promise<Set<number>> {
    const duplicates = new Set<number>();
    const generation = generationOf(receivedAt);
    const docs = events.map((event, index) => ({ _id: event.id, seq: seqs[index] }));
    // The previous generation first: an id found there must not be registered anew in this one
    // (its entry would name the copy about to be taken out). Inserting there leaves extra
    // entries of this generation's ids, which go with it.
    if (receivedAt.getTime() - generation * generationMs < generationOverlapMs) {
      for (const index of await insertNew(this.registry(tenantId, generation - 1), docs)) duplicates.add(index);
    }
    const fresh = docs.map((doc, index) => ({ doc, index })).filter(({ index }) => !duplicates.has(index));
    for (const at of await insertNew(this.registry(tenantId, generation), fresh.map(({ doc }) => doc))) duplicates.add(fresh[at].index);
    return duplicates;
  }

  /** Appends events (ids registered by this flush) to their partitions. Idempotent: a repeated append changes nothing. */
  async append(tenantId: string, events: AuditEvent[], seqs: number[]): Promise<void> {
    const byPartition = new Map<number, AuditDoc[]>();
    events.forEach(({ id, ...event }, index) => {
      const partition = this.partitionOf(seqs[index]);
      const docs = byPartition.get(partition) ?? [];
      docs.push({ _id: id, ...event, seq: seqs[index] });
      byPartition.set(partition, docs);
    });
    for (const [partition, docs] of byPartition) await insertNew(await this.ensurePartition(tenantId, partition), docs);
  }

  /** Takes out copies a flush appended of ids the tenant had already published (the first copy stays). */
  async remove(tenantId: string, copies: { id: string; seq: number }[]): Promise<void> {
    const byPartition = new Map<number, { _id: string; seq: number }[]>();
    for (const { id, seq } of copies) byPartition.set(this.partitionOf(seq), [...(byPartition.get(this.partitionOf(seq)) ?? []), { _id: id, seq }]);
    for (const [partition, docs] of byPartition) await this.partition(tenantId, partition).deleteMany({ $or: docs });
  }

  /** An event by id: the registry (newest generation first) says where it is; finds by `_id` only. */
  async get(tenantId: string, eventId: string): Promise<(AuditEvent & { seq: number }) | undefined> {
    for (const generation of (await this.generations(tenantId)).reverse()) {
      const registered = await this.registry(tenantId, generation).findOne({ _id: eventId });
      if (!registered) continue;
      const doc = await this.partition(tenantId, this.partitionOf(registered.seq)).findOne({ _id: eventId });
      if (doc) return toEvent(doc);
    }
    return undefined;
  }

  /**
   * The seq up to which a cursor may read: the highest seq of an event accepted longer ago
   * than the settle time. A flush still being written may hold lower seqs than one already
   * written (several API processes on MongoDB), and a cursor that moved past them would skip
   * them for good. Every seq below this one was allocated before it, so its event was
   * accepted before it (give or take the publish timeout) and written within the publish
   * timeout — both well inside the settle time: nothing can still appear at or below it.
   * Newest partitions first: it is nearly always found in the last one.
   */
  async settledThrough(tenantId: string, partitions: number[], now = new Date()): Promise<number> {
    const settled = new Date(now.getTime() - this.options.settleMs);
    for (const partition of [...partitions].reverse()) {
      const [newest] = await this.partition(tenantId, partition)
        .find({ receivedAt: { $lte: settled } }, { projection: { seq: 1 } })
        .sort({ seq: -1 })
        .limit(1)
        .toArray();
      if (newest) return newest.seq;
    }
    return -1;
  }

  /**
   * Matching events after `afterSeq`, in acceptance order: at most `limit`, reading at most
   * the scan budget of sequence numbers, and never past what is settled.
   */
  async page(tenantId: string, filter: AuditFilter, afterSeq: number, limit: number, now = new Date()): Promise<AuditPage> {
    const partitions = await this.partitions(tenantId);
    const settled = await this.settledThrough(tenantId, partitions, now);
    const upTo = Math.min(settled, afterSeq + this.options.scanBudget);
    const query = eventsFilter(filter);
    const events: (AuditEvent & { seq: number })[] = [];
    for (const partition of partitions) {
      const first = partition * this.options.partitionEvents;
      const last = first + this.options.partitionEvents - 1;
      if (last <= afterSeq || first > upTo) continue;
      const docs = await this.partition(tenantId, partition)
        .find({ ...query, seq: { $gt: afterSeq, $lte: upTo } } as Filter<AuditDoc>)
        .sort({ seq: 1 })
        .limit(limit - events.length)
        .toArray();
      events.push(...docs.map(toEvent));
      if (events.length >= limit) return { events, readThrough: events[events.length - 1].seq, more: true };
    }
    return { events, readThrough: Math.max(afterSeq, upTo), more: upTo < settled };
  }

  /** Every matching event with a seq in [from, to], in acceptance order, read partition by partition (bounded memory). */
  async *stream(tenantId: string, filter: AuditFilter, range: SeqRange = {}): AsyncGenerator<AuditEvent & { seq: number }> {
    const query = { ...eventsFilter(filter), seq: seqBounds(range) };
    for (const partition of await this.partitionsIn(tenantId, range)) {
      const cursor = this.partition(tenantId, partition).find(query as Filter<AuditDoc>).sort({ seq: 1 }).batchSize(1_000);
      for await (const doc of cursor) yield toEvent(doc);
    }
  }

  /** The first `limit` matching events with a seq in [from, to]. */
  async read(tenantId: string, filter: AuditFilter, range: SeqRange, limit: number): Promise<(AuditEvent & { seq: number })[]> {
    const query = { ...eventsFilter(filter), seq: seqBounds(range) };
    const events: (AuditEvent & { seq: number })[] = [];
    for (const partition of await this.partitionsIn(tenantId, range)) {
      const docs = await this.partition(tenantId, partition).find(query as Filter<AuditDoc>).sort({ seq: 1 }).limit(limit - events.length).toArray();
      events.push(...docs.map(toEvent));
      if (events.length >= limit) break;
    }
    return events;
  }

  /** How many events match, with a seq in [from, to]. */
  async count(tenantId: string, filter: AuditFilter, range: SeqRange = {}): Promise<number> {
    const query = { ...eventsFilter(filter), seq: seqBounds(range) };
    let total = 0;
    for (const partition of await this.partitionsIn(tenantId, range)) total += await this.partition(tenantId, partition).countDocuments(query as Filter<AuditDoc>);
    return total;
  }

  private async partitionsIn(tenantId: string, { from = 0, to = Infinity }: SeqRange): Promise<number[]> {
    const size = this.options.partitionEvents;
    return (await this.partitions(tenantId)).filter((partition) => (partition + 1) * size - 1 >= from && partition * size <= to);
  }

  /**
   * Removes events accepted before `before`: whole partitions whose newest event is older are
   * dropped, then the expired start of the first partition left is deleted, then the
   * registry generations that hold only expired ids. At most `maxPartitions` partitions per
   * call, so each call is bounded; `done` says whether nothing expired remains.
   */
  async expire(tenantId: string, before: Date, maxPartitions: number): Promise<{ deleted: number; done: boolean }> {
    let deleted = 0;
    let touched = 0;
    for (const partition of await this.partitions(tenantId)) {
      if (touched >= maxPartitions) return { deleted, done: false };
      touched++;
      const collection = this.partition(tenantId, partition);
      const [newest] = await collection.find({}, { projection: { receivedAt: 1 } }).sort({ seq: -1 }).limit(1).toArray();
      if (newest && newest.receivedAt < before) {
        deleted += await collection.countDocuments({});
        await collection.drop();
        this.created.delete(this.name(tenantId, partition));
        continue;
      }
      const seqs = { from: partition * this.options.partitionEvents, to: (partition + 1) * this.options.partitionEvents - 1 };
      deleted += await deleteBySeqWindows(collection, { receivedAt: { $lt: before } }, seqs);
      break;
    }
    // The registry forgets the generations whose whole week has expired; the one holding the
    // cutoff keeps its expired ids until it goes too (a repeat of one of them is a duplicate).
    for (const generation of await this.generations(tenantId)) {
      if ((generation + 1) * generationMs > before.getTime()) break;
      await this.registry(tenantId, generation).drop();
    }
    return { deleted, done: true };
  }
}

/** Inserts `docs`, keeping those whose `_id` is there already as they are; answers their indexes. */
async function insertNew<T extends { _id: string }>(collection: Collection<T>, docs: T[]): Promise<number[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany(docs as OptionalUnlessRequiredId<T>[], { ordered: false });
    return [];
  } catch (error) {
    if (!(error instanceof MongoBulkWriteError)) throw error;
    const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
    if (writeErrors.length === 0 || writeErrors.some((writeError) => writeError?.code !== duplicateKey)) throw error;
    return writeErrors.map((writeError) => writeError.index);
  }
}
