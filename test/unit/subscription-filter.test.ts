// The CloudEvents Subscriptions API filter dialects as a destination's filters: what each
// matches, and what the parser refuses, with where and what to fix.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/model.js';
import { filtersAsJson, parseSubscriptionFilters, subscriptionMatcher } from '../../src/subscription/filter.js';

const event = (fields: Partial<AuditEvent>): AuditEvent => ({
  id: 'e',
  occurredAt: new Date(0),
  receivedAt: new Date(0),
  action: 'user.login',
  outcome: 'success',
  ...fields,
});

const matches = (filters: unknown[], fields: Partial<AuditEvent>) => subscriptionMatcher(parseSubscriptionFilters(filters))(event(fields));

describe('subscription filters', () => {
  it('exact, prefix and suffix compare one field, case-sensitively', () => {
    expect(matches([{ exact: { action: 'user.login' } }], {})).toBe(true);
    expect(matches([{ exact: { action: 'user.Login' } }], {})).toBe(false);
    expect(matches([{ prefix: { action: 'user.' } }], {})).toBe(true);
    expect(matches([{ prefix: { action: 'doc.' } }], {})).toBe(false);
    expect(matches([{ suffix: { 'resource.type': '_key' } }], { resource: { type: 'api_key' } })).toBe(true);
    expect(matches([{ exact: { 'actor.id': 'u-1' } }], { actor: { id: 'u-2' } })).toBe(false);
  });

  it('a field the event lacks matches no comparison, so a "not" of one matches', () => {
    expect(matches([{ exact: { 'actor.type': 'user' } }], {})).toBe(false);
    expect(matches([{ prefix: { 'resource.id': 'a' } }], { resource: {} })).toBe(false);
    expect(matches([{ not: { exact: { 'actor.type': 'user' } } }], {})).toBe(true);
  });

  it('all, any and not combine expressions; a list must match as a whole; no filters match everything', () => {
    const filters = [{ any: [{ prefix: { action: 'user.' } }, { exact: { 'resource.type': 'secret' } }] }, { not: { exact: { outcome: 'success' } } }];
    expect(matches(filters, { action: 'user.login', outcome: 'failure' })).toBe(true);
    expect(matches(filters, { action: 'doc.read', outcome: 'unknown', resource: { type: 'secret' } })).toBe(true);
    expect(matches(filters, { action: 'user.login', outcome: 'success' })).toBe(false);
    expect(matches(filters, { action: 'doc.read', outcome: 'failure' })).toBe(false);
    expect(matches([{ all: [{ prefix: { action: 'user.' } }, { suffix: { action: '.login' } }] }], {})).toBe(true);
    expect(matches([{ all: [{ prefix: { action: 'user.' } }, { suffix: { action: '.logout' } }] }], {})).toBe(false);
    expect(matches([], { action: 'anything' })).toBe(true);
    expect(subscriptionMatcher(undefined)(event({}))).toBe(true);
  });

  it('shows filters back as they were given', () => {
    const given = [{ not: { any: [{ exact: { outcome: 'success' } }, { suffix: { 'actor.name': 'bot' } }] } }, { all: [{ prefix: { action: 'a' } }] }];
    expect(filtersAsJson(parseSubscriptionFilters(given))).toEqual(given);
  });

  it.each([
    ['a list', { exact: { action: 'x' } }, 'filters: must be a list of filter expressions'],
    ['an object per expression', ['exact'], 'filters[0]: must be an object with one of exact, prefix, suffix, all, any, not'],
    ['one dialect per expression', [{ exact: { action: 'x' }, prefix: { action: 'y' } }], 'filters[0]: must have exactly one dialect (exact, prefix, suffix, all, any, not); got exact, prefix — combine several with "all" or "any"'],
    ['a known dialect', [{ all: [{ exakt: { action: 'x' } }] }], 'filters[0].all[0]: "exakt" is not a filter dialect; use one of exact, prefix, suffix, all, any, not'],
    ['a known field', [{ not: { prefix: { actor: 'u' } } }], 'filters[0].not.prefix: "actor" is not a field a filter can name; use one of action, outcome, actor.type, actor.id, actor.name, resource.type, resource.id, resource.name'],
    ['no inherited names as fields', [{ exact: { constructor: 'x' } }], 'filters[0].exact: "constructor" is not a field a filter can name'],
    ['one field per comparison', [{ exact: { action: 'x', outcome: 'failure' } }], 'filters[0].exact: must name exactly one field (got 2); combine several with "all"'],
    ['a string value', [{ suffix: { action: 5 } }], 'filters[0].suffix.action: must be a string'],
    ['a value', [{ prefix: { action: '' } }], 'filters[0].prefix.action: must not be empty'],
    ['a known outcome', [{ exact: { outcome: 'succes' } }], 'filters[0].exact.outcome: an outcome is one of success, failure, unknown (got "succes")'],
    ['expressions in all and any', [{ any: [] }], 'filters[0].any: must be a non-empty list of filter expressions'],
    ['bounded nesting', [{ not: { not: { not: { not: { not: { not: { not: { not: { exact: { action: 'x' } } } } } } } } } }], 'filters[0].not.not.not.not.not.not.not.not: nests deeper than 8 levels'],
    ['a bounded number of expressions', Array.from({ length: 65 }, () => ({ exact: { action: 'x' } })), 'filters: hold more than 64 expressions'],
    ['bounded values', [{ exact: { action: 'x'.repeat(257) } }], 'filters[0].exact.action: is 257 characters long; the limit is 256'],
  ])('needs %s', (_, input, message) => {
    expect(() => parseSubscriptionFilters(input)).toThrow(message);
  });
});
