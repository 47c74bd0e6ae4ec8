// Console sessions: a `manage` API key is exchanged once for a session, which the browser
// holds as an HttpOnly cookie; the page holds a CSRF token in memory. Both tokens are random
// and stored only as SHA-256 hashes; a session expires, and signing out deletes it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hashKey } from './api-keys.js';
import type { Collections, SessionDoc } from './mongo.js';

export interface OpenedSession {
  token: string;
  csrfToken: string;
  doc: SessionDoc;
}

const newToken = () => randomBytes(32).toString('base64url');

export class SessionStore {
  constructor(
    private readonly collections: Collections,
    readonly lifetimeMs: number,
  ) {}

  async open(tenantId: string, keyHash: string, now = new Date()): Promise<OpenedSession> {
    const token = newToken();
    const csrfToken = newToken();
    const doc: SessionDoc = {
      _id: hashKey(token),
      tenantId,
      keyHash,
      csrfHash: hashKey(csrfToken),
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.lifetimeMs),
    };
    await this.collections.sessions.insertOne(doc);
    return { token, csrfToken, doc };
  }

  /** The live session of a cookie token, or null (unknown, expired — then removed). */
  async find(token: string, now = new Date()): Promise<SessionDoc | null> {
    const doc = await this.collections.sessions.findOne({ _id: hashKey(token) });
    if (!doc) return null;
    if (doc.expiresAt.getTime() <= now.getTime()) {
      await this.collections.sessions.deleteOne({ _id: doc._id });
      return null;
    }
    return doc;
  }

  /** A new CSRF token for a live session (a reloaded page asks for one; the old one stops working). */
  async renewCsrf(doc: SessionDoc): Promise<string> {
    const csrfToken = newToken();
    await this.collections.sessions.updateOne({ _id: doc._id }, { $set: { csrfHash: hashKey(csrfToken) } });
    doc.csrfHash = hashKey(csrfToken);
    return csrfToken;
  }

  static csrfMatches(doc: SessionDoc, csrfToken: string | null | undefined): boolean {
    if (!csrfToken) return false;
    return timingSafeEqual(Buffer.from(doc.csrfHash, 'hex'), Buffer.from(hashKey(csrfToken), 'hex'));
  }

  async close(token: string): Promise<void> {
    await this.collections.sessions.deleteOne({ _id: hashKey(token) });
  }

  async removeExpired(now = new Date()): Promise<number> {
    return (await this.collections.sessions.deleteMany({ expiresAt: { $lte: now } })).deletedCount;
  }
}
