// The dispatch outbox: one entry per ingest flush, from the moment the flush took its numbers
// until every destination's workflow has been told about it. An entry left behind by a crash
// says which flush to finish (src/ingest/sweeper.ts). Entries leave within a second of their
// flush unless Temporal is unreachable, so the collection stays small; confirmed entries are
// the oldest, at the start of the collection, where a delete by `_id` finds them at once.
import type { Collections, OutboxDoc } from './mongo.js';

/** Deletes in flight at once when many confirmed entries leave together. */
const deleteWindow = 8;

export class Outbox {
  constructor(private readonly collections: Pick<Collections, 'outbox'>) {}

  async insert(entry: OutboxDoc): Promise<void> {
    await this.collections.outbox.insertOne(entry);
  }

  async remove(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += deleteWindow) {
      await Promise.all(ids.slice(i, i + deleteWindow).map((_id) => this.collections.outbox.deleteOne({ _id })));
    }
  }

  /** Entries older than `before`: flushes a crash or an outage interrupted (or did not finish telling). */
  olderThan(before: Date, limit: number): Promise<OutboxDoc[]> {
    return this.collections.outbox.find({ createdAt: { $lt: before } }).sort({ createdAt: 1 }).limit(limit).toArray();
  }
}
