// Each destination's signed checkpoints, in a collection of its own (`checkpoints_<id>`,
// `_id` = the checkpoint's number): written by its workflow's activity only, read newest first
// by point reads (FerretDB answers any other query by reading the whole collection), and gone
// with the destination by dropping the collection.
import type { Collection, Db } from 'mongodb';
import type { CheckpointBody } from '../completeness/checkpoint.js';

export interface CheckpointDoc extends Omit<CheckpointBody, 'time'> {
  _id: number;
  time: Date;
  /** The signer's key id (8 hex digits) and the whole signed note, as the destination got it. */
  keyId: string;
  note: string;
}

/** Point reads in flight for one listing. */
const readWindow = 16;

export class CheckpointStore {
  constructor(private readonly db: Db) {}

  private of(destinationId: string): Collection<CheckpointDoc> {
    return this.db.collection<CheckpointDoc>(`checkpoints_${destinationId}`);
  }

  /** Saves a checkpoint as signed; the same checkpoint signed again (a retry) replaces it. */
  async save(destinationId: string, doc: CheckpointDoc): Promise<void> {
    await this.of(destinationId).replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  /** Checkpoints `from`, `from` − 1, … down to 1, at most `limit` of them, of this tenant's destination only. */
  async newestFirst(tenantId: string, destinationId: string, from: number, limit: number): Promise<CheckpointDoc[]> {
    const numbers = Array.from({ length: Math.max(0, Math.min(limit, from)) }, (_, i) => from - i);
    const found: CheckpointDoc[] = [];
    for (let i = 0; i < numbers.length; i += readWindow) {
      const docs = await Promise.all(numbers.slice(i, i + readWindow).map((n) => this.of(destinationId).findOne({ _id: n })));
      for (const doc of docs) if (doc && doc.tenantId === tenantId) found.push(doc);
    }
    return found;
  }

  async dropAll(destinationId: string): Promise<void> {
    await this.of(destinationId).drop().catch(() => undefined);
  }
}
