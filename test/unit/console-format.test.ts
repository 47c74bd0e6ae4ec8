// What the console says about time and which field an API error concerns.
import { describe, expect, it } from 'vitest';
import { absoluteTime, fieldOfError, plural, timeAgo, timeLeft } from '../../web/console/format.js';

const now = new Date('2026-12-01T12:00:00Z');
const after = (ms: number) => new Date(now.getTime() + ms);

describe('console wording', () => {
  it('says how long until buffered events are dropped', () => {
    expect(timeLeft(after(5 * 3600_000 + 12 * 60_000 + 30_000), now)).toBe('5 h 12 min');
    expect(timeLeft(after(3 * 3600_000), now)).toBe('3 h');
    expect(timeLeft(after(59 * 60_000), now)).toBe('59 min');
    expect(timeLeft(after(30_000), now)).toBe('less than a minute');
    expect(timeLeft(after(-60_000), now)).toBe('less than a minute');
  });

  it('writes a time an incident write-up can quote: date, time to the second, and the time zone named', () => {
    expect(absoluteTime(now, 'UTC')).toBe('1 Dec 2026, 12:00:00 UTC');
    expect(absoluteTime(now, 'Europe/Berlin')).toBe('1 Dec 2026, 13:00:00 CET');
    expect(absoluteTime(after(-13 * 3600_000), 'America/New_York')).toBe('30 Nov 2026, 18:00:00 GMT-5');
  });

  it('says how long ago the last delivery was', () => {
    expect(timeAgo(after(-5_000), now)).toBe('just now');
    expect(timeAgo(after(-45_000), now)).toBe('45 s ago');
    expect(timeAgo(after(-3 * 60_000), now)).toBe('3 min ago');
    expect(timeAgo(after(-5 * 3600_000), now)).toBe('5 h ago');
    expect(timeAgo(after(-3 * 86_400_000), now)).toBe('3 days ago');
  });

  it('finds the field an API error is about, by its API name', () => {
    const fields = ['name', 'endpoint', 'access_key_id', 'secret_access_key', 'secret', 'settings.region', 'settings.log_group', 'settings.index'];
    expect(fieldOfError('endpoint must be an https URL (got http://)', fields)).toBe('endpoint');
    expect(fieldOfError('webhook destinations need secret', fields)).toBe('secret');
    expect(fieldOfError('cloudwatch destinations need secret_access_key', fields)).toBe('secret_access_key');
    expect(fieldOfError('cloudwatch destinations need settings.log_group (log group, created when missing)', fields)).toBe('settings.log_group');
    expect(fieldOfError('settings.index must be a lowercase Elasticsearch index or data stream name', fields)).toBe('settings.index');
    expect(fieldOfError('name is 201 characters long; the limit is 200', fields)).toBe('name');
    expect(fieldOfError('the delivery service is unreachable; try again', fields)).toBeUndefined();
  });

  it('counts in words', () => {
    expect(plural(1, 'event')).toBe('1 event');
    expect(plural(0n, 'event')).toBe('0 events');
    expect(plural(2n, 'buffered event')).toBe('2 buffered events');
  });
});
