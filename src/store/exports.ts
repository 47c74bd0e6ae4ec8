// Export jobs and their files. A file is written once, in order, as 1 MiB chunks into a
// collection of its own (`export_<id>`, chunk `_id` = its number), so reading it back is one
// point read per chunk whatever else is stored — on FerretDB too, which reads a whole
// collection for any other query — and deleting it is dropping that collection.
import { Binary, type Collection, type Db } from 'mongodb';
import type { Collections, ExportDoc } from './mongo.js';

export const exportChunkBytes = 1024 * 1024;

interface ChunkDoc {
  _id: number;
  data: Binary;
}

export class ExportStore {
  constructor(
    private readonly db: Db,
    private readonly collections: Collections,
  ) {}

  private chunksOf(id: string): Collection<ChunkDoc> {
    return this.db.collection<ChunkDoc>(`export_${id}`);
  }

  create(doc: ExportDoc): Promise<unknown> {
    return this.collections.exports.insertOne(doc);
  }

  get(tenantId: string, id: string): Promise<ExportDoc | null> {
    return this.collections.exports.findOne({ _id: id, tenantId });
  }

  byId(id: string): Promise<ExportDoc | null> {
    return this.collections.exports.findOne({ _id: id });
  }

  async list(tenantId: string): Promise<ExportDoc[]> {
    const docs = await this.collections.exports.find({ tenantId }).toArray();
    return docs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** The job's progress: written by its workflow's activity only. */
  async update(id: string, change: Partial<Omit<ExportDoc, '_id' | 'tenantId'>>): Promise<void> {
    await this.collections.exports.updateOne({ _id: id }, { $set: change });
  }

  /** Starts the file again from nothing (an attempt before this one may have written part of it). */
  async resetFile(id: string): Promise<void> {
    await this.chunksOf(id).drop().catch(() => undefined);
  }

  async writeChunk(id: string, n: number, data: Buffer): Promise<void> {
    await this.chunksOf(id).insertOne({ _id: n, data: new Binary(data) });
  }

  async readChunk(id: string, n: number): Promise<Buffer> {
    const chunk = await this.chunksOf(id).findOne({ _id: n });
    if (!chunk) throw new Error(`chunk ${n} of export ${id} is missing`);
    return Buffer.from(chunk.data.buffer);
  }

  /** Jobs past their expiry that still hold a file (or were never finished). */
  expired(now: Date): Promise<ExportDoc[]> {
    return this.collections.exports.find({ expiresAt: { $lt: now }, state: { $ne: 'expired' } }).toArray();
  }

  async removeFile(id: string): Promise<void> {
    await this.resetFile(id);
    await this.update(id, { state: 'expired' });
  }
}
