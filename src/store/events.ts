// The delivery buffer (`batches`) and the dispatch outbox. The audit log is ./audit-log.ts.
import { promisify } from 'node:util';
import { gunzip, gzip, constants } from 'node:zlib';
import { BSON, Binary } from 'mongodb';
import { KeyedMutex } from '../keyed-mutex.js';
import type { AuditEvent } from '../model.js';
import type { Interval } from '../../workflows/ranges.js';
import type { BatchDoc, Collections, OutboxDoc } from './mongo.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A buffered batch as the service sees it: the stored fields, with its events and their seqs. */
export interface Batch extends Omit<BatchDoc, 'payload'> {
  events: AuditEvent[];
  /** `seqs[i]` is the tenant sequence number of `events[i]` (ascending; duplicates removed leave gaps). */
  seqs: number[];
}

/** A buffered batch as read for a delivery: its fields, and its events decoded on demand. */
export interface BufferedBatch extends Omit<BatchDoc, 'payload'> {
  decode(): Promise<{ events: AuditEvent[]; seqs: number[] }>;
}

async function encodeEvents(events: AuditEvent[], seqs: number[]): Promise<Binary> {
  // Level 1: most of the size win for a fraction of the CPU of the default level.
  return new Binary(await gzipAsync(BSON.serialize({ events, seqs }), { level: constants.Z_BEST_SPEED }));
}

async function decodeEvents(payload: Binary, firstSeq: number): Promise<{ events: AuditEvent[]; seqs: number[] }> {
  const decoded = BSON.deserialize(await gunzipAsync(payload.buffer)) as { events: AuditEvent[]; seqs?: number[] };
  // Batches buffered before seqs were stored hold consecutive seqs.
  return { events: decoded.events, seqs: decoded.seqs ?? decoded.events.map((_, index) => firstSeq + index) };
}

/** The query part selecting a destination's batches that overlap any of the seq intervals. */
function overlapping(intervals: Interval[]) {
  return { $or: intervals.map(([lo, hi]) => ({ firstSeq: { $lte: hi }, lastSeq: { $gte: lo } })) };
}


export function batchId(tenantId: string, firstSeq: number): string {
  return `${tenantId}:${firstSeq}`;
}

export class EventStore {
  private readonly releases = new KeyedMutex();

  constructor(private readonly collections: Collections) {}

  async batchExists(id: string): Promise<boolean> {
    return (await this.collections.batches.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
  }

  /**
   * The batches still buffered for a destination, oldest seq first: one query per delivery
   * (on MongoDB an index range; FerretDB scans the collection once). Events are decoded only
   * for the batches a delivery takes.
   */
  async readPending(tenantId: string, destinationId: string, limit: number): Promise<BufferedBatch[]> {
    const docs = await this.collections.batches.find({ tenantId, pendingFor: destinationId }).sort({ firstSeq: 1 }).limit(limit).toArray();
    return docs.map(({ payload, ...batch }) => ({ ...batch, decode: () => decodeEvents(payload, batch.firstSeq) }));
  }

  /** The same batches without their events: what a recovering workflow counts as its backlog. */
  async pendingSummary(tenantId: string, destinationId: string): Promise<Omit<BatchDoc, 'payload'>[]> {
    return this.collections.batches
      .find({ tenantId, pendingFor: destinationId }, { projection: { payload: 0 } })
      .sort({ firstSeq: 1 })
      .toArray();
  }

  /** How many events of a buffered batch come before seq `from` (a delivery stopped inside it). */
  async countBefore(id: string, from: number): Promise<number> {
    const doc = await this.collections.batches.findOne({ _id: id });
    return doc ? (await decodeEvents(doc.payload, doc.firstSeq)).seqs.filter((seq) => seq < from).length : 0;
  }

  async insertBatch({ events, seqs, ...batch }: Batch): Promise<void> {
    await this.collections.batches.insertOne({ ...batch, payload: await encodeEvents(events, seqs) });
  }

  /** Leaves only `events` in a batch that is not announced yet. */
  async replaceBatchEvents(id: string, events: AuditEvent[], seqs: number[]): Promise<void> {
    await this.collections.batches.updateOne({ _id: id }, { $set: { payload: await encodeEvents(events, seqs), count: events.length } });
  }

  async removeBatch(id: string): Promise<void> {
    await this.collections.batches.deleteOne({ _id: id });
  }

  /**
   * A destination is done with its batches overlapping `intervals` (or with all of them):
   * those only it still needed are deleted, and it is pulled from the others. Idempotent,
   * and it never deletes a batch another destination still needs. Its workflow calls this
   * only after recording what it settled, so a batch is never released before that.
   *
   * Releases of one tenant's batches run one at a time in this process: FerretDB applies an
   * update as read, modify, write, so two destinations pulling themselves from the same batch
   * at once would lose one pull and leave the batch buffered until the retention clean-up
   * (measured: 16 of 40 batches left behind by four concurrent destinations). On MongoDB each
   * update is atomic; releases that cross there leave a batch nobody is pending for, which
   * `removeReleasedBatches` takes.
   */
  release(tenantId: string, destinationId: string, intervals: Interval[] | 'all'): Promise<void> {
    if (intervals !== 'all' && intervals.length === 0) return Promise.resolve();
    const which = { tenantId, ...(intervals === 'all' ? {} : overlapping(intervals)) };
    return this.releases.run(tenantId, async () => {
      await this.collections.batches.deleteMany({ ...which, pendingFor: [destinationId] });
      await this.collections.batches.updateMany({ ...which, pendingFor: destinationId }, { $pull: { pendingFor: destinationId } });
    });
  }

  /** Batches every destination has released (left by two releases that crossed). */
  async removeReleasedBatches(): Promise<number> {
    return (await this.collections.batches.deleteMany({ pendingFor: { $size: 0 } })).deletedCount;
  }

  /** Batches older than `before`: past every destination's retry window. */
  async removeBatchesBefore(before: Date): Promise<number> {
    return (await this.collections.batches.deleteMany({ createdAt: { $lt: before } })).deletedCount;
  }

  async insertOutbox(entry: OutboxDoc): Promise<void> {
    await this.collections.outbox.insertOne(entry);
  }

  async removeOutbox(id: string): Promise<void> {
    await this.collections.outbox.deleteOne({ _id: id });
  }

  /** One delete for many confirmed entries (the outbox stays small, so `$in` is cheap even on FerretDB). */
  async removeOutboxMany(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.collections.outbox.deleteMany({ _id: { $in: ids } });
  }

  /** Outbox entries older than `before`: announcements that a crash or an outage interrupted. */
  async staleOutbox(before: Date, limit: number): Promise<OutboxDoc[]> {
    return this.collections.outbox.find({ createdAt: { $lt: before } }).sort({ createdAt: 1 }).limit(limit).toArray();
  }
}

