// API keys map to one tenant each. Only a SHA-256 of the key is stored; it is the document
// `_id`, so resolving a key is one point read.
import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyDoc, Collections } from './mongo.js';

export interface IssuedKey {
  key: string;
  doc: ApiKeyDoc;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class ApiKeyStore {
  constructor(private readonly collections: Collections) {}

  async issue(tenantId: string, name: string): Promise<IssuedKey> {
    const key = `ask_${randomBytes(24).toString('base64url')}`;
    const doc: ApiKeyDoc = { _id: hashKey(key), tenantId, name, prefix: key.slice(0, 8), createdAt: new Date() };
    await this.collections.apiKeys.insertOne(doc);
    return { key, doc };
  }

  /** The tenant of a presented key, or null when the key is unknown or revoked. */
  async tenantOf(key: string): Promise<string | null> {
    const doc = await this.collections.apiKeys.findOne({ _id: hashKey(key) });
    return doc?.tenantId ?? null;
  }

  async exists(key: string): Promise<boolean> {
    return (await this.tenantOf(key)) !== null;
  }
}
