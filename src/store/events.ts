// The audit log (`events`), the delivery buffer (`batches`) and the dispatch outbox.
import { MongoBulkWriteError } from 'mongodb';
import type { AuditEvent } from '../model.js';
import type { BatchDoc, Collections, EventDoc, OutboxDoc } from './mongo.js';

const duplicateKey = 11000;

export function batchId(tenantId: string, firstSeq: number): string {
  return `${tenantId}:${firstSeq}`;
}

export function eventKey(tenantId: string, eventId: string): string {
  return `${tenantId}:${eventId}`;
}

export class EventStore {
  constructor(private readonly collections: Collections) {}

  /**
   * Inserts events into the audit log and returns the indexes of those whose id the
   * tenant had already published (the stored copy wins).
   */
  async insertEvents(docs: EventDoc[]): Promise<Set<number>> {
    const duplicates = new Set<number>();
    if (docs.length === 0) return duplicates;
    try {
      await this.collections.events.insertMany(docs, { ordered: false });
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
      for (const writeError of writeErrors) {
        if (writeError.code !== duplicateKey) throw error;
        duplicates.add(writeError.index);
      }
    }
    return duplicates;
  }

  async batchExists(id: string): Promise<boolean> {
    return (await this.collections.batches.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
  }

  async readBatch(id: string): Promise<BatchDoc | null> {
    return this.collections.batches.findOne({ _id: id });
  }

  async insertBatch(batch: BatchDoc): Promise<void> {
    await this.collections.batches.insertOne(batch);
  }

  /** Leaves only `events` in a batch that is not announced yet. */
  async replaceBatchEvents(id: string, events: AuditEvent[]): Promise<void> {
    await this.collections.batches.updateOne({ _id: id }, { $set: { events, count: events.length } });
  }

  async removeBatch(id: string): Promise<void> {
    await this.collections.batches.deleteOne({ _id: id });
  }

  /**
   * A destination is done with a batch; the last one deletes it. Idempotent per destination
   * (a retried delivery releases nothing twice); a release lost to a concurrent one leaves
   * the batch to the periodic clean-up, never deletes it early.
   */
  async releaseBatch(id: string, destinationId: string): Promise<void> {
    const batch = await this.collections.batches.findOneAndUpdate(
      { _id: id },
      { $pull: { pendingFor: destinationId } },
      { returnDocument: 'after' }, // FerretDB 1.24 does not support a projection here
    );
    if (batch && batch.pendingFor.length === 0) await this.collections.batches.deleteOne({ _id: id });
  }

  /** Batches older than `before` that some destination dropped rather than delivered. */
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

