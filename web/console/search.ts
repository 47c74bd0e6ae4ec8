// The Logs page's search string, in the style of GitHub's audit log — qualifiers separated by
// spaces, e.g. `action:user.login actor:u-42 created:>2026-11-01 outcome:failure` — parsed into
// the API's EventFilter, and written back from one (what the page's filter fields produce).
// Pure functions, unit-tested in test/unit/console-search.test.ts.

import { eventOutcomes as outcomes, type AuditFilter } from '../../src/model.js';

/** What the search string can say: the API's filter, less the data subject (that is the GDPR export's). */
export type SearchFilter = Omit<AuditFilter, 'subjectId'>;

/** A search string that cannot be read, with what to write instead. */
export class SearchError extends Error {}

export const qualifiers = ['action', 'actor', 'resource', 'resource_type', 'outcome', 'created'] as const;
type Qualifier = (typeof qualifiers)[number];


/** Splits at spaces outside double quotes: `actor:"Jane Doe" outcome:failure` is two terms. */
function terms(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:[^\s"]+|"[^"]*")+/g;
  for (const match of text.matchAll(pattern)) found.push(match[0]);
  if ((text.match(/"/g)?.length ?? 0) % 2 === 1) throw new SearchError('a quote (") is not closed');
  return found;
}

const unquote = (value: string) => value.replace(/^"(.*)"$/, '$1');

/**
 * A day or a moment: `2026-11-01` is that day's start in the time zone shown (UTC, or the
 * browser's); `2026-11-01T10:00` a moment in it; with `Z` or an offset, that moment.
 */
function moment(value: string, utc: boolean): { at: Date; day: boolean } {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]) - 1, Number(day[3])];
    const at = utc ? new Date(Date.UTC(y, m, d)) : new Date(y, m, d);
    if (at.getUTCDate() !== d && at.getDate() !== d) throw new SearchError(`"${value}" is not a date`);
    return { at, day: true };
  }
  const time = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (time) {
    const zone = time[7] ?? (utc ? 'Z' : '');
    const at = new Date(`${time[1]}-${time[2]}-${time[3]}T${time[4]}:${time[5]}:${time[6] ?? '00'}${zone}`);
    if (!Number.isNaN(at.getTime())) return { at, day: false };
  }
  throw new SearchError(`"${value}" is not a date: write 2026-11-01, or 2026-11-01T09:30`);
}

const nextDay = (at: Date, utc: boolean) => (utc ? new Date(at.getTime() + 86_400_000) : new Date(at.getFullYear(), at.getMonth(), at.getDate() + 1));

/** `created:` with >, >=, <, <=, a range `a..b`, or one day: the [after, before) it means. */
function created(value: string, utc: boolean): Pick<SearchFilter, 'occurredAfter' | 'occurredBefore'> {
  const range = /^(.+)\.\.(.+)$/.exec(value);
  if (range) {
    const from = moment(range[1], utc);
    const to = moment(range[2], utc);
    return { occurredAfter: from.at, occurredBefore: to.day ? nextDay(to.at, utc) : to.at };
  }
  const compare = /^(>=|<=|>|<)(.+)$/.exec(value);
  if (compare) {
    const { at, day } = moment(compare[2], utc);
    const end = day ? nextDay(at, utc) : new Date(at.getTime() + 1);
    switch (compare[1]) {
      case '>':
        return { occurredAfter: day ? end : new Date(at.getTime() + 1) };
      case '>=':
        return { occurredAfter: at };
      case '<':
        return { occurredBefore: at };
      default:
        return { occurredBefore: end };
    }
  }
  const { at, day } = moment(value, utc);
  return day ? { occurredAfter: at, occurredBefore: nextDay(at, utc) } : { occurredAfter: at, occurredBefore: new Date(at.getTime() + 1) };
}

/** Reads a search string; `utc`: dates without a zone are in UTC rather than the browser's time zone. */
export function parseSearch(text: string, utc: boolean): SearchFilter {
  const filter: SearchFilter = {};
  const seen = new Set<Qualifier>();
  for (const term of terms(text.trim())) {
    if (term.startsWith('-')) {
      // Excluding: an outcome (one of three) is the only qualifier the log can leave out.
      const excluded = /^-outcome:(.+)$/i.exec(term)?.[1].toLowerCase();
      if (!excluded) throw new SearchError(`"${term}": only an outcome can be excluded (-outcome:success); ask for what you want instead`);
      if (!outcomes.includes(excluded as (typeof outcomes)[number])) throw new SearchError(`"${term}": an outcome is ${outcomes.join(', ')}`);
      if (seen.has('outcome')) throw new SearchError('"outcome:" is given twice; give it once');
      seen.add('outcome');
      filter.outcomes = outcomes.filter((outcome) => outcome !== excluded);
      continue;
    }
    const colon = term.indexOf(':');
    if (colon <= 0) throw new SearchError(`"${term}" has no qualifier: write one of ${qualifiers.map((q) => `${q}:`).join(' ')} before it, e.g. action:${term}`);
    const name = term.slice(0, colon).toLowerCase() as Qualifier;
    const value = unquote(term.slice(colon + 1));
    if (!qualifiers.includes(name)) throw new SearchError(`"${term.slice(0, colon)}:" is not a qualifier; use ${qualifiers.map((q) => `${q}:`).join(' ')}`);
    if (value === '') throw new SearchError(`"${name}:" needs a value, e.g. ${name}:${name === 'created' ? '>2026-11-01' : name === 'outcome' ? 'failure' : 'user.login'}`);
    if (seen.has(name)) throw new SearchError(`"${name}:" is given twice; give it once`);
    seen.add(name);
    switch (name) {
      case 'action':
        if (value.endsWith('*')) filter.actionPrefix = value.slice(0, -1);
        else filter.action = value;
        if (filter.actionPrefix === '') throw new SearchError('"action:*" matches every action: leave it out');
        break;
      case 'actor':
        filter.actorId = value;
        break;
      case 'resource':
        filter.resourceId = value;
        break;
      case 'resource_type':
        filter.resourceType = value;
        break;
      case 'outcome': {
        const outcome = value.toLowerCase() as SearchFilter['outcome'];
        if (!outcomes.includes(outcome!)) throw new SearchError(`"outcome:${value}": an outcome is ${outcomes.join(', ')}`);
        filter.outcome = outcome;
        break;
      }
      case 'created':
        Object.assign(filter, created(value, utc));
        break;
    }
  }
  if (filter.occurredAfter && filter.occurredBefore && filter.occurredAfter >= filter.occurredBefore) {
    throw new SearchError('the time range is empty: its start is not before its end');
  }
  return filter;
}

const quoted = (value: string) => (/[\s"]/.test(value) ? `"${value.replace(/"/g, '')}"` : value);

/** A moment as the search string writes it, in UTC or the browser's time zone. */
function written(at: Date, utc: boolean): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const [y, m, d, hh, mm, ss] = utc
    ? [at.getUTCFullYear(), at.getUTCMonth() + 1, at.getUTCDate(), at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds()]
    : [at.getFullYear(), at.getMonth() + 1, at.getDate(), at.getHours(), at.getMinutes(), at.getSeconds()];
  return `${y}-${pad(m)}-${pad(d)}T${pad(hh)}:${pad(mm)}${ss ? `:${pad(ss)}` : ''}`;
}

/** The search string of a filter (what the page's filter fields produce): parseSearch reads it back to the same filter. */
export function formatSearch(filter: SearchFilter, utc: boolean): string {
  const parts: string[] = [];
  if (filter.action) parts.push(`action:${quoted(filter.action)}`);
  if (filter.actionPrefix) parts.push(`action:${quoted(filter.actionPrefix)}*`);
  if (filter.actorId) parts.push(`actor:${quoted(filter.actorId)}`);
  if (filter.resourceType) parts.push(`resource_type:${quoted(filter.resourceType)}`);
  if (filter.resourceId) parts.push(`resource:${quoted(filter.resourceId)}`);
  if (filter.outcome) parts.push(`outcome:${filter.outcome}`);
  if (filter.outcomes?.length === outcomes.length - 1) parts.push(`-outcome:${outcomes.find((outcome) => !filter.outcomes!.includes(outcome))}`);
  if (filter.occurredAfter && filter.occurredBefore) parts.push(`created:${written(filter.occurredAfter, utc)}..${written(filter.occurredBefore, utc)}`);
  else if (filter.occurredAfter) parts.push(`created:>=${written(filter.occurredAfter, utc)}`);
  else if (filter.occurredBefore) parts.push(`created:<${written(filter.occurredBefore, utc)}`);
  return parts.join(' ');
}
