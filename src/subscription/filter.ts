// Which of its tenant's events a destination receives: filter expressions in the dialects of
// the CloudEvents Subscriptions API (`exact`, `prefix`, `suffix`, `all`, `any`, `not`), over a
// fixed list of an audit event's fields. A destination's `filters` is a list of expressions that
// must all match (none: every event). In JSON, exactly as the specification writes them:
//
//   [{"prefix": {"action": "user."}}, {"not": {"exact": {"outcome": "success"}}}]
//
// Parsed once at the API boundary (`parseSubscriptionFilters`) into a form that keeps field names
// out of document keys (MongoDB and FerretDB treat a dotted key as a path), stored so, shown
// back as JSON (`filtersAsJson`), and applied (`subscriptionMatcher`) where a flush counts what
// each destination is owed and where a delivery reads its events.
import { eventOutcomes, type AuditEvent } from '../model.js';

/** The fields a filter can name, each with how to read it from an event (absent: no value). */
const fields = {
  action: (event: AuditEvent) => event.action,
  outcome: (event: AuditEvent) => event.outcome,
  'actor.type': (event: AuditEvent) => event.actor?.type,
  'actor.id': (event: AuditEvent) => event.actor?.id,
  'actor.name': (event: AuditEvent) => event.actor?.name,
  'resource.type': (event: AuditEvent) => event.resource?.type,
  'resource.id': (event: AuditEvent) => event.resource?.id,
  'resource.name': (event: AuditEvent) => event.resource?.name,
} as const satisfies Record<string, (event: AuditEvent) => string | undefined>;

export type FilterField = keyof typeof fields;
export const filterFields = Object.keys(fields) as FilterField[];

type Comparison = 'exact' | 'prefix' | 'suffix';

export type SubscriptionFilter =
  | { compare: Comparison; field: FilterField; value: string }
  | { all: SubscriptionFilter[] }
  | { any: SubscriptionFilter[] }
  | { not: SubscriptionFilter };

/** The JSON form of a filter expression, as the API takes and shows it. */
export type FilterJson = { [dialect: string]: FilterJson | FilterJson[] | Record<string, string> };

export const dialects = ['exact', 'prefix', 'suffix', 'all', 'any', 'not'] as const;

/** What one destination's filters may hold: enough for any real routing rule, bounded for the hot path. */
export const filterLimits = { expressions: 64, depth: 8, value: 256 } as const;

/** Input that is not a filter list, with where and what to fix. */
export class SubscriptionFilterError extends Error {}

function fail(path: string, message: string): never {
  throw new SubscriptionFilterError(`${path}: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A destination's filters from their JSON form (what `google.protobuf.ListValue` carries), or a
 * SubscriptionFilterError naming the expression (`filters[1].all[0]`) and what to fix.
 */
export function parseSubscriptionFilters(input: unknown): SubscriptionFilter[] {
  if (!Array.isArray(input)) fail('filters', 'must be a list of filter expressions, e.g. [{"prefix": {"action": "user."}}]');
  let expressions = 0;
  const parse = (value: unknown, path: string, depth: number): SubscriptionFilter => {
    if (++expressions > filterLimits.expressions) fail('filters', `hold more than ${filterLimits.expressions} expressions; combine them with fewer`);
    if (depth > filterLimits.depth) fail(path, `nests deeper than ${filterLimits.depth} levels`);
    if (!isObject(value)) fail(path, `must be an object with one of ${dialects.join(', ')}, e.g. {"exact": {"outcome": "failure"}}`);
    const keys = Object.keys(value);
    if (keys.length !== 1) fail(path, `must have exactly one dialect (${dialects.join(', ')}); got ${keys.length === 0 ? 'none' : keys.join(', ')} — combine several with "all" or "any"`);
    const [dialect] = keys;
    const body = value[dialect];
    switch (dialect) {
      case 'exact':
      case 'prefix':
      case 'suffix':
        return parseComparison(dialect, body, `${path}.${dialect}`);
      case 'all':
      case 'any': {
        if (!Array.isArray(body) || body.length === 0) fail(`${path}.${dialect}`, 'must be a non-empty list of filter expressions');
        return { [dialect]: body.map((item, index) => parse(item, `${path}.${dialect}[${index}]`, depth + 1)) } as SubscriptionFilter;
      }
      case 'not':
        return { not: parse(body, `${path}.not`, depth + 1) };
      default:
        return fail(path, `"${dialect.slice(0, 40)}" is not a filter dialect; use one of ${dialects.join(', ')}`);
    }
  };
  return input.map((item, index) => parse(item, `filters[${index}]`, 1));
}

function parseComparison(dialect: Comparison, body: unknown, path: string): SubscriptionFilter {
  if (!isObject(body)) fail(path, `must be an object of one field and its value, e.g. {"action": "user.login"}`);
  const entries = Object.entries(body);
  // As the specification has it: one field per expression (combine several with "all").
  if (entries.length !== 1) fail(path, `must name exactly one field (got ${entries.length}); combine several with "all"`);
  const [[field, value]] = entries;
  if (!Object.hasOwn(fields, field)) fail(path, `"${field.slice(0, 40)}" is not a field a filter can name; use one of ${filterFields.join(', ')}`);
  if (typeof value !== 'string') fail(`${path}.${field}`, 'must be a string');
  if (value === '') fail(`${path}.${field}`, 'must not be empty');
  if (value.length > filterLimits.value) fail(`${path}.${field}`, `is ${value.length} characters long; the limit is ${filterLimits.value}`);
  if (field === 'outcome' && dialect === 'exact' && !(eventOutcomes as readonly string[]).includes(value)) {
    fail(`${path}.${field}`, `an outcome is one of ${eventOutcomes.join(', ')} (got "${value.slice(0, 40)}")`);
  }
  return { compare: dialect, field: field as FilterField, value };
}

/** Filters in their JSON form, as they were given. */
export function filtersAsJson(filters: readonly SubscriptionFilter[]): FilterJson[] {
  const json = (filter: SubscriptionFilter): FilterJson => {
    if ('all' in filter) return { all: filter.all.map(json) };
    if ('any' in filter) return { any: filter.any.map(json) };
    if ('not' in filter) return { not: json(filter.not) };
    return { [filter.compare]: { [filter.field]: filter.value } };
  };
  return filters.map(json);
}

type Matcher = (event: AuditEvent) => boolean;

function compile(filter: SubscriptionFilter): Matcher {
  if ('all' in filter) {
    const items = filter.all.map(compile);
    return (event) => items.every((item) => item(event));
  }
  if ('any' in filter) {
    const items = filter.any.map(compile);
    return (event) => items.some((item) => item(event));
  }
  if ('not' in filter) {
    const item = compile(filter.not);
    return (event) => !item(event);
  }
  const { compare, value: expected } = filter;
  const read = fields[filter.field];
  // A field the event does not have matches no comparison (and so every `not` of one).
  if (compare === 'exact') return (event) => read(event) === expected;
  if (compare === 'prefix') return (event) => read(event)?.startsWith(expected) ?? false;
  return (event) => read(event)?.endsWith(expected) ?? false;
}

/** Whether a destination with these filters receives an event: every expression matches (none given: every event). */
export function subscriptionMatcher(filters: readonly SubscriptionFilter[] | undefined): Matcher {
  if (filters === undefined || filters.length === 0) return () => true;
  const all = filters.map(compile);
  return (event) => all.every((item) => item(event));
}
