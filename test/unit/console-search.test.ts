// The Logs page's search string: qualifiers in the style of GitHub's audit log, read into the
// API's filter, errors in plain words, and written back from the page's filter fields.
import { describe, expect, it } from 'vitest';
import { formatSearch, parseSearch, SearchError } from '../../web/console/search.js';

const utc = (text: string) => parseSearch(text, true);
const refused = (text: string) => {
  try {
    parseSearch(text, true);
  } catch (error) {
    expect(error).toBeInstanceOf(SearchError);
    return (error as Error).message;
  }
  throw new Error(`"${text}" was read`);
};

describe('the Logs search string', () => {
  it('reads each qualifier into the filter the API takes', () => {
    expect(utc('action:user.login actor:u-42 outcome:failure resource:doc-7 resource_type:document')).toEqual({
      action: 'user.login',
      actorId: 'u-42',
      outcome: 'failure',
      resourceId: 'doc-7',
      resourceType: 'document',
    });
    expect(utc('action:siem.destination.*')).toEqual({ actionPrefix: 'siem.destination.' });
    // GitHub's example, excluding an outcome: every other one.
    expect(utc('action:user.login actor:u-42 created:>2026-11-01 -outcome:success')).toEqual({
      action: 'user.login',
      actorId: 'u-42',
      occurredAfter: new Date('2026-11-02T00:00:00Z'),
      outcomes: ['failure', 'unknown'],
    });
    expect(utc('actor:"Jane Doe"  ')).toEqual({ actorId: 'Jane Doe' });
    expect(utc('')).toEqual({});
  });

  it('reads created: as GitHub does, in the time zone shown', () => {
    expect(utc('created:>2026-11-01')).toEqual({ occurredAfter: new Date('2026-11-02T00:00:00Z') });
    expect(utc('created:>=2026-11-01')).toEqual({ occurredAfter: new Date('2026-11-01T00:00:00Z') });
    expect(utc('created:<2026-11-01')).toEqual({ occurredBefore: new Date('2026-11-01T00:00:00Z') });
    expect(utc('created:<=2026-11-01')).toEqual({ occurredBefore: new Date('2026-11-02T00:00:00Z') });
    expect(utc('created:2026-11-01')).toEqual({ occurredAfter: new Date('2026-11-01T00:00:00Z'), occurredBefore: new Date('2026-11-02T00:00:00Z') });
    expect(utc('created:2026-11-01..2026-11-30')).toEqual({ occurredAfter: new Date('2026-11-01T00:00:00Z'), occurredBefore: new Date('2026-12-01T00:00:00Z') });
    expect(utc('created:>=2026-11-01T09:30')).toEqual({ occurredAfter: new Date('2026-11-01T09:30:00Z') });
    expect(utc('created:>=2026-11-01T09:30+02:00')).toEqual({ occurredAfter: new Date('2026-11-01T07:30:00Z') });
    // In the browser's time zone, a day starts at its local midnight.
    expect(parseSearch('created:>=2026-11-01', false)).toEqual({ occurredAfter: new Date(2026, 10, 1) });
  });

  it('says in plain words what it cannot read, and what to write instead', () => {
    expect(refused('user.login')).toBe('"user.login" has no qualifier: write one of action: actor: resource: resource_type: outcome: created: before it, e.g. action:user.login');
    expect(refused('who:u-1')).toBe('"who:" is not a qualifier; use action: actor: resource: resource_type: outcome: created:');
    expect(refused('outcome:maybe')).toBe('"outcome:maybe": an outcome is success, failure, unknown');
    expect(refused('-actor:u-1')).toBe('"-actor:u-1": only an outcome can be excluded (-outcome:success); ask for what you want instead');
    expect(refused('-outcome:maybe')).toBe('"-outcome:maybe": an outcome is success, failure, unknown');
    expect(refused('outcome:failure -outcome:success')).toBe('"outcome:" is given twice; give it once');
    expect(refused('created:>last-week')).toBe('"last-week" is not a date: write 2026-11-01, or 2026-11-01T09:30');
    expect(refused('created:2026-02-31')).toBe('"2026-02-31" is not a date');
    expect(refused('actor:u-1 actor:u-2')).toBe('"actor:" is given twice; give it once');
    expect(refused('actor:"Jane')).toBe('a quote (") is not closed');
    expect(refused('action:')).toBe('"action:" needs a value, e.g. action:user.login');
    expect(refused('created:2026-11-02..2026-11-01')).toBe('the time range is empty: its start is not before its end');
  });

  it('writes the page’s filter fields as a search string that reads back to the same filter', () => {
    const filter = {
      actionPrefix: 'user.',
      actorId: 'Jane Doe',
      outcome: 'success' as const,
      occurredAfter: new Date('2026-11-01T09:30:00Z'),
      occurredBefore: new Date('2026-11-02T00:00:00Z'),
    };
    const text = formatSearch(filter, true);
    expect(text).toBe('action:user.* actor:"Jane Doe" outcome:success created:2026-11-01T09:30..2026-11-02T00:00');
    expect(utc(text)).toEqual(filter);
    expect(formatSearch({ occurredBefore: new Date('2026-11-02T00:00:00Z') }, true)).toBe('created:<2026-11-02T00:00');
    expect(formatSearch({ outcomes: ['failure', 'unknown'] }, true)).toBe('-outcome:success');
  });
});
