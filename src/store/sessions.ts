// Console sessions: a `manage` API key is exchanged once for a session, which the browser
// holds as an HttpOnly cookie; the page holds a CSRF token in memory. The session token is
// random and stored only as a SHA-256 hash; the CSRF token is an HMAC of it, so every tab of
// the session is given the same one (a page loaded in a second tab does not break the first)
// and only a page that can read the session's answers has it — never another site, which can
// neither read the HttpOnly cookie nor the answer. A session expires, and signing out deletes
// it. Its document is only inserted and deleted.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { hashKey } from './api-keys.js';
import type { Collections, SessionDoc } from './mongo.js';

export interface OpenedSession {
  token: string;
  csrfToken: string;
  doc: SessionDoc;
}

const newToken = () => randomBytes(32).toString('base64url');

/** The session's CSRF token: the same for every page of the session, derived from its secret cookie. */
export function csrfTokenOf(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('auditstream console csrf').digest('base64url');
}

export class SessionStore {
  constructor(
    private readonly collections: Collections,
    readonly lifetimeMs: number,
  ) {}

  async open(tenantId: string, keyHash: string, now = new Date()): Promise<OpenedSession> {
    const token = newToken();
    const doc: SessionDoc = {
      _id: hashKey(token),
      tenantId,
      keyHash,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.lifetimeMs),
    };
    await this.collections.sessions.insertOne(doc);
    return { token, csrfToken: csrfTokenOf(token), doc };
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

  /** Whether a call carries the CSRF token of the session whose cookie it sent. */
  static csrfMatches(sessionToken: string, csrfToken: string | null | undefined): boolean {
    if (!csrfToken) return false;
    const expected = Buffer.from(hashKey(csrfTokenOf(sessionToken)), 'hex');
    return timingSafeEqual(expected, Buffer.from(hashKey(csrfToken), 'hex'));
  }

  async close(token: string): Promise<void> {
    await this.collections.sessions.deleteOne({ _id: hashKey(token) });
  }

  async removeExpired(now = new Date()): Promise<number> {
    return (await this.collections.sessions.deleteMany({ expiresAt: { $lte: now } })).deletedCount;
  }
}
