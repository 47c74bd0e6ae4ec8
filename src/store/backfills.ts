// Backfill jobs. The API creates one (and reads them); the destination's workflow, through
// its activities, is the only writer afterwards: progress, and how it ended.
import type { BackfillDoc, BackfillState, Collections } from './mongo.js';

export class BackfillStore {
  constructor(private readonly collections: Collections) {}

  create(doc: BackfillDoc): Promise<unknown> {
    return this.collections.backfills.insertOne(doc);
  }

  remove(id: string): Promise<unknown> {
    return this.collections.backfills.deleteOne({ _id: id });
  }

  get(tenantId: string, destinationId: string, id: string): Promise<BackfillDoc | null> {
    return this.collections.backfills.findOne({ _id: id, tenantId, destinationId });
  }

  byId(id: string): Promise<BackfillDoc | null> {
    return this.collections.backfills.findOne({ _id: id });
  }

  async list(tenantId: string, destinationId: string): Promise<BackfillDoc[]> {
    const docs = await this.collections.backfills.find({ tenantId, destinationId }).toArray();
    return docs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  async running(tenantId: string, destinationId: string): Promise<BackfillDoc | undefined> {
    return (await this.list(tenantId, destinationId)).find((doc) => doc.state === 'running');
  }

  /**
   * Counts one replay delivery's progress, from `fromSeq` where it began. Only once: an attempt
   * repeated after its progress was counted (its answer lost to a crash) finds the job moved on
   * and counts nothing again.
   */
  async progressed(id: string, fromSeq: number, change: { nextSeq: number; delivered: number; rejected: number }): Promise<void> {
    await this.collections.backfills.updateOne({ _id: id, nextSeq: fromSeq }, { $set: { nextSeq: change.nextSeq }, $inc: { delivered: change.delivered, rejected: change.rejected } });
  }

  async finished(id: string, state: Exclude<BackfillState, 'running'>, reason?: string): Promise<BackfillDoc | null> {
    await this.collections.backfills.updateOne({ _id: id, state: 'running' }, { $set: { state, finishedAt: new Date(), ...(reason ? { reason } : {}) } });
    return this.byId(id);
  }
}
