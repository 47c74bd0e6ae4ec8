// Where an event id is in the audit log: what `GetEvent` reads, at a cost that stays flat as the
// log grows on FerretDB, where a point read of the id registry passes every id registered
// before it that week (docs/store.md).
//
// An entry is 8 bytes: the first 4 bytes of SHA-256(id) as a key, and the number of the chunk
// holding the event. A tenant's newest entries are one document, the tail (`idx_<tenant key>`,
// `_id` "tail"), rewritten by its one writer (the indexer of the API process that leads the
// store, src/ingest/id-indexer.ts) about once a second; once the tail holds `sealAt` entries
// they are sealed: split by the key's low bits into `buckets` documents, one in each
// bucket collection (`idx_<tenant key>_<bucket>`), and the tail starts empty again. Finding an
// id reads the tail and its one bucket collection whole — 1/64 of the tenant's entries: 125 KB
// at 1,000,000 events, where the registry passed megabytes — then the chunks its key names
// (a key shared by another id only costs a chunk read). Retention deletes what is below its
// floor from each bucket.
import { hash } from 'node:crypto';
import { Binary, type Collection, type Db } from 'mongodb';
import { insertNew } from './mongo.js';

/** Bucket collections per tenant: a lookup reads one of them. */
export const buckets = 64;
/** Entries the tail holds before they are sealed into the buckets (256 KB). */
export const sealAt = 32_768;

/** The tail: entries of chunks from `sealed` up to (not including) `through`. */
interface TailDoc {
  _id: 'tail';
  sealed: number;
  through: number;
  entries: Binary;
}

/** A bucket's share of the entries of chunks below `to`, sealed together. */
interface BucketDoc {
  _id: string;
  to: number;
  entries: Binary;
}

/** An id's key: the first 4 bytes of its SHA-256. Its low bits choose its bucket. */
export function keyOf(id: string): number {
  return hash('sha256', id, 'buffer').readUInt32LE(0);
}

function bucketOf(key: number): number {
  return key % buckets;
}

/** Entries as stored: per entry its key and its chunk, 4 bytes each, little-endian. */
export class Entries {
  private bytes: Buffer;
  length = 0;

  constructor(packed?: Binary) {
    this.bytes = packed ? Buffer.from(packed.buffer) : Buffer.alloc(8 * 1024);
    this.length = packed ? Math.floor(this.bytes.length / 8) : 0;
  }

  add(id: string, chunk: number): void {
    if ((this.length + 1) * 8 > this.bytes.length) {
      const grown = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    this.bytes.writeUInt32LE(keyOf(id), this.length * 8);
    this.bytes.writeUInt32LE(chunk, this.length * 8 + 4);
    this.length++;
  }

  pack(): Binary {
    return new Binary(Buffer.from(this.bytes.subarray(0, this.length * 8)));
  }

  /** The entries split by bucket, each packed. */
  packBuckets(): Binary[] {
    const sizes = new Array<number>(buckets).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) sizes[bucketOf(this.bytes.readUInt32LE(at))] += 8;
    const packed = sizes.map((size) => Buffer.alloc(size));
    const filled = new Array<number>(buckets).fill(0);
    for (let at = 0; at < this.length * 8; at += 8) {
      const bucket = bucketOf(this.bytes.readUInt32LE(at));
      this.bytes.copy(packed[bucket], filled[bucket], at, at + 8);
      filled[bucket] += 8;
    }
    return packed.map((bytes) => new Binary(bytes));
  }
}

/** The chunks whose entries in `packed` have this key. */
function chunksWithKey(packed: Binary, key: number): number[] {
  const bytes = Buffer.from(packed.buffer);
  const found: number[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8) if (bytes.readUInt32LE(at) === key) found.push(bytes.readUInt32LE(at + 4));
  return found;
}

/** What the index holds of a tenant: its tail, as last written. */
export interface IndexedTail {
  sealed: number;
  through: number;
  entries: Entries;
}

export class IdIndex {
  constructor(private readonly db: Db) {}

  private tails(tenantKey: string): Collection<TailDoc> {
    return this.db.collection<TailDoc>(`idx_${tenantKey}`);
  }

  private bucket(tenantKey: string, bucket: number): Collection<BucketDoc> {
    return this.db.collection<BucketDoc>(`idx_${tenantKey}_${bucket}`);
  }

  // ---- the writer (one per tenant: the indexer of the leading API process) ----

  /** The tail as last written, or an empty one starting at `floor` (nothing indexed yet). */
  async tail(tenantKey: string, floor: number): Promise<IndexedTail> {
    const doc = await this.tails(tenantKey).findOne({ _id: 'tail' });
    if (!doc) return { sealed: floor, through: floor, entries: new Entries() };
    return { sealed: doc.sealed, through: doc.through, entries: new Entries(doc.entries) };
  }

  /** Writes the tail: entries of chunks from `sealed` to `through`. */
  async writeTail(tenantKey: string, tail: IndexedTail): Promise<void> {
    await this.tails(tenantKey).replaceOne({ _id: 'tail' }, { sealed: tail.sealed, through: tail.through, entries: tail.entries.pack() }, { upsert: true });
  }

  /**
   * Seals a tail's entries into the buckets. Safe to repeat: a seal's documents are named by its
   * chunk range, and one written again over an overlapping range only repeats entries (a lookup
   * takes each chunk once).
   */
  async seal(tenantKey: string, tail: IndexedTail): Promise<void> {
    const _id = `${tail.sealed}-${tail.through}`;
    await Promise.all(
      tail.entries.packBuckets().map((entries, bucket) => (entries.length() > 0 ? insertNew(this.bucket(tenantKey, bucket), [{ _id, to: tail.through, entries }]) : undefined)),
    );
  }

  // ---- readers ----

  /** The chunks that may hold `id`, oldest first. */
  async candidates(tenantKey: string, id: string): Promise<number[]> {
    const key = keyOf(id);
    const [tail, sealed] = await Promise.all([this.tails(tenantKey).findOne({ _id: 'tail' }), this.bucket(tenantKey, bucketOf(key)).find({}).toArray()]);
    const chunks = new Set<number>();
    for (const doc of sealed) for (const chunk of chunksWithKey(doc.entries, key)) chunks.add(chunk);
    if (tail) for (const chunk of chunksWithKey(tail.entries, key)) chunks.add(chunk);
    return [...chunks].sort((a, b) => a - b);
  }

  // ---- retention ----

  /** Deletes sealed entries of chunks below `floor`: one delete per bucket, which reads the bucket (as a lookup does). */
  async expire(tenantKey: string, floor: number): Promise<void> {
    for (let bucket = 0; bucket < buckets; bucket++) await this.bucket(tenantKey, bucket).deleteMany({ to: { $lte: floor } });
  }
}
