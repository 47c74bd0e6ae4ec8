// What of each event a destination may see: a list of fields to drop, or to replace by a keyed
// HMAC token of their value. The key is the tenant's own, derived from the service's masking
// key, so the same value gives the same token within a tenant (a SIEM can still group and
// search by it: `MaskToken` answers the token of a known value) and different ones across
// tenants; without the key a token cannot be reversed by guessing, as a plain hash of an
// e-mail address or an IP address can. Applied to events just before a provider encodes them,
// live, replayed and tested alike.
import { createHmac, hkdfSync } from 'node:crypto';
import type { AuditEvent } from '../model.js';

export const maskActions = ['drop', 'hmac'] as const;
export type MaskAction = (typeof maskActions)[number];

/** A field as the API names it, and what is done to it. */
export interface MaskRule {
  field: string;
  action: MaskAction;
}

/** The fields of an event that can be masked (and any under `metadata.`): the rest are what routing, ordering and deduplication need. */
const eventFields = {
  'actor.id': ['actor', 'id'],
  'actor.name': ['actor', 'name'],
  'actor.ip': ['actor', 'ip'],
  'actor.user_agent': ['actor', 'userAgent'],
  'resource.id': ['resource', 'id'],
  'resource.name': ['resource', 'name'],
  request_id: ['requestId'],
} as const satisfies Record<string, readonly string[]>;

export const maskableFields = [...Object.keys(eventFields), 'metadata.<key>'];

export const maskLimits = { rules: 32, field: 256 } as const;

/** Input that is not a list of mask rules, with where and what to fix. */
export class MaskingError extends Error {}

/** The path of a field within an event, or undefined when it cannot be masked. */
function pathOf(field: string): readonly string[] | undefined {
  if (Object.hasOwn(eventFields, field)) return eventFields[field as keyof typeof eventFields];
  if (!field.startsWith('metadata.')) return undefined;
  const keys = field.slice('metadata.'.length).split('.');
  return keys.every((key) => key !== '') ? ['metadata', ...keys] : undefined;
}

export function parseMaskRules(rules: readonly { field: string; action: string }[]): MaskRule[] {
  if (rules.length > maskLimits.rules) throw new MaskingError(`masking: at most ${maskLimits.rules} rules (got ${rules.length})`);
  const seen = new Set<string>();
  return rules.map(({ field, action }, index) => {
    const at = `masking.rules[${index}]`;
    if (field.length > maskLimits.field) throw new MaskingError(`${at}.field is ${field.length} characters long; the limit is ${maskLimits.field}`);
    if (!pathOf(field)) throw new MaskingError(`${at}.field: "${field.slice(0, 60)}" cannot be masked; use one of ${maskableFields.join(', ')}`);
    if (!(maskActions as readonly string[]).includes(action)) throw new MaskingError(`${at}.action must be one of ${maskActions.join(', ')} (got "${action.slice(0, 40)}")`);
    if (seen.has(field)) throw new MaskingError(`${at}: ${field} is masked twice; keep one rule for it`);
    seen.add(field);
    return { field, action: action as MaskAction };
  });
}

/** The key of a tenant's tokens: its own, from the service's masking key (HKDF-SHA256). */
export function tenantMaskingKey(serviceKey: Buffer, tenantId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serviceKey, 'auditstream masking', `tenant:${tenantId}`, 32));
}

/**
 * The token that replaces a value: `hmac_` and 128 bits of HMAC-SHA256 under the tenant's key,
 * base64url. A value that is not a string is tokenised as its JSON text.
 */
export function maskToken(tenantKey: Buffer, value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `hmac_${createHmac('sha256', tenantKey).update(text, 'utf8').digest().subarray(0, 16).toString('base64url')}`;
}

/** A copy of `target` with the value at `path` dropped or tokenised; the objects along the path are copied, nothing else. */
function masked(target: Record<string, unknown>, path: readonly string[], action: MaskAction, tenantKey: Buffer): Record<string, unknown> {
  const [key, ...rest] = path;
  if (!Object.hasOwn(target, key)) return target;
  const value = target[key];
  const copy = { ...target };
  if (rest.length > 0) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return target;
    copy[key] = masked(value as Record<string, unknown>, rest, action, tenantKey);
  } else if (action === 'drop') {
    delete copy[key];
  } else if (value !== undefined && value !== null) {
    copy[key] = maskToken(tenantKey, value);
  }
  return copy;
}

/** What applies a destination's rules to each event: a copy with the masked fields changed. */
export function eventMasker(rules: readonly MaskRule[], tenantKey: Buffer): <E extends AuditEvent>(event: E) => E {
  const paths = rules.map((rule) => ({ path: pathOf(rule.field)!, action: rule.action }));
  return (event) => paths.reduce((current, { path, action }) => masked(current as never, path, action, tenantKey) as never, event);
}

/** The service's masking for every tenant: each tenant's key (derived once, kept), its maskers and tokens. */
export class TenantMasking {
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly serviceKey: Buffer) {}

  private keyOf(tenantId: string): Buffer {
    let key = this.keys.get(tenantId);
    if (!key) {
      // Bounded: a process serves its tenants' destinations; past that, derived again as needed.
      if (this.keys.size >= 10_000) this.keys.clear();
      key = tenantMaskingKey(this.serviceKey, tenantId);
      this.keys.set(tenantId, key);
    }
    return key;
  }

  masker(tenantId: string, rules: readonly MaskRule[] | undefined): <E extends AuditEvent>(event: E) => E {
    if (!rules || rules.length === 0) return (event) => event;
    return eventMasker(rules, this.keyOf(tenantId));
  }

  token(tenantId: string, value: string): string {
    return maskToken(this.keyOf(tenantId), value);
  }
}
