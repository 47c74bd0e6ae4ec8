// Per-tenant admission: what an API key may do (its scopes) and how fast (token buckets,
// one per tenant and kind of call). A refused call is RESOURCE_EXHAUSTED with a retry hint.
import { Code, ConnectError } from '@connectrpc/connect';
import type { Scope } from '../store/api-keys.js';

export interface RateLimit {
  /** Units per second (events for publishing, calls for management). */
  rate: number;
  burst: number;
}

/** Milliseconds since the epoch; injected so tests drive time. */
export type Clock = () => number;

class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Clock,
  ) {
    this.tokens = limit.burst;
    this.updatedAt = clock();
  }

  /** Takes `cost` tokens, or says how long until they will be there. */
  take(cost: number): number | undefined {
    const now = this.clock();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.limit.rate);
    this.updatedAt = now;
    if (cost <= this.tokens) {
      this.tokens -= cost;
      return undefined;
    }
    return Math.ceil(((Math.min(cost, this.limit.burst) - this.tokens) / this.limit.rate) * 1000);
  }
}

const scopeNames: Record<Scope, string> = { publish: 'publish events', manage: 'manage destinations', read: 'read the audit log' };

export class Admission {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limits: Record<Scope, RateLimit>,
    private readonly clock: Clock = Date.now,
  ) {}

  /** Throws PERMISSION_DENIED or RESOURCE_EXHAUSTED when the call may not go ahead. */
  admit(tenantId: string, scopes: Scope[], needed: Scope, cost = 1): void {
    if (!scopes.includes(needed)) {
      throw new ConnectError(`this API key may not ${scopeNames[needed]} (its scopes: ${scopes.join(', ') || 'none'})`, Code.PermissionDenied);
    }
    const key = `${needed}\n${tenantId}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.limits[needed], this.clock);
      this.buckets.set(key, bucket);
    }
    const waitMs = bucket.take(cost);
    if (waitMs === undefined) return;
    const limit = this.limits[needed];
    const what = needed === 'publish' ? `${limit.rate} events/s` : `${limit.rate} calls/s`;
    throw new ConnectError(
      `rate limit of ${what} (burst ${limit.burst}) reached for this tenant; retry in ${waitMs} ms`,
      Code.ResourceExhausted,
      { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
    );
  }
}
