// API keys map to one tenant each, optionally limited to scopes. Only a SHA-256 of the key
// is stored; it is the document `_id`, so resolving a key is one point read, made on every
// call: a revoked key stops working on the next one. Only while the store is known to be
// unreachable is a key's answer of the last 5 minutes used instead, at once, so that List can
// still say what waits and why and a publish is refused quickly (everything else needs the
// store anyway).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ApiKeyDoc, Collections } from './mongo.js';

export const scopes = ['publish', 'manage', 'read'] as const;
export type Scope = (typeof scopes)[number];

export interface IssuedKey {
  key: string;
  doc: ApiKeyDoc;
}

export interface Caller {
  tenantId: string;
  scopes: Scope[];
  /** How the key is known in listings and in the audit log: never the key itself. */
  keyPrefix: string;
  keyName: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class ApiKeyStore {
  /**
   * Lookups of the same key already under way: concurrent calls share one read instead of
   * queueing one each (64 concurrent publishers cost 64 reads per round otherwise). Nothing
   * is kept after the read returns, so revocation still applies to the next call.
   */
  private readonly inFlight = new Map<string, Promise<ApiKeyDoc | null>>();

  constructor(
    private readonly collections: Collections,
    /** Whether the store is known to be unreachable now (src/api/dependencies.ts). */
    private readonly storeDown: () => boolean = () => false,
  ) {}

  /** Each key's last answer from the store, for the store's outages only (see above). */
  private readonly lastAnswers = new LRUCache<string, { doc: ApiKeyDoc | null }>({ max: 10_000, ttl: 5 * 60_000 });

  private lookup(hash: string): Promise<ApiKeyDoc | null> {
    const last = this.storeDown() ? this.lastAnswers.get(hash) : undefined;
    if (last) return Promise.resolve(last.doc);
    let pending = this.inFlight.get(hash);
    if (!pending) {
      pending = this.collections.apiKeys
        .findOne({ _id: hash })
        .then((doc) => {
          this.lastAnswers.set(hash, { doc });
          return doc;
        })
        .finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, pending);
    }
    return pending;
  }

  async issue(tenantId: string, name: string, keyScopes: Scope[] = [...scopes]): Promise<IssuedKey> {
    const key = `ask_${randomBytes(24).toString('base64url')}`;
    const doc: ApiKeyDoc = { _id: hashKey(key), tenantId, name, prefix: key.slice(0, 10), scopes: keyScopes, createdAt: new Date() };
    await this.collections.apiKeys.insertOne(doc);
    return { key, doc };
  }

  /** Who presents this key, or null when it is unknown or revoked. */
  callerOf(key: string): Promise<Caller | null> {
    return this.callerOfHash(hashKey(key));
  }

  /** The same, for a key known by its hash (a console session's). */
  async callerOfHash(hash: string): Promise<Caller | null> {
    const doc = await this.lookup(hash);
    if (!doc || doc.revokedAt) return null;
    // The lookup is by hash; comparing again in constant time keeps timing independent of the stored value.
    if (!timingSafeEqual(Buffer.from(doc._id, 'hex'), Buffer.from(hash, 'hex'))) return null;
    return { tenantId: doc.tenantId, scopes: doc.scopes ?? [...scopes], keyPrefix: doc.prefix, keyName: doc.name };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.callerOf(key)) !== null;
  }

  /** Keys of a tenant (or all), newest first, without anything that could be used as a key. */
  async list(tenantId?: string): Promise<ApiKeyDoc[]> {
    const docs = await this.collections.apiKeys.find(tenantId ? { tenantId } : {}).toArray();
    return docs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /** Revokes the keys whose prefix (as listed) or hash is given; returns how many. */
  async revoke(prefixOrHash: string): Promise<number> {
    const matches = (await this.list()).filter((doc) => !doc.revokedAt && (doc._id === prefixOrHash || doc.prefix === prefixOrHash));
    for (const doc of matches) {
      await this.collections.apiKeys.updateOne({ _id: doc._id }, { $set: { revokedAt: new Date() } });
      this.lastAnswers.delete(doc._id);
    }
    return matches.length;
  }
}
