import { describe, expect, it } from 'vitest';
import { addPending, addSettled, head, maxSettledIntervals, pendingCount, settle, settleAll, type Interval, type PendingRange } from '../../workflows/ranges.js';

// Chunk numbers follow the seqs here (a chunk per seq): adjacent ranges have adjacent chunks.
const range = (lo: number, hi: number, count = hi - lo + 1, at = lo): PendingRange => ({ lo, hi, count, at, firstChunk: lo, lastChunk: hi });
const portion = (lo: number, hi: number, count: number, next = hi + 1) => ({ lo, hi, count, next });

describe('pending ranges', () => {
  it('merges adjacent announcements, with their chunks, and keeps the oldest time', () => {
    const pending: PendingRange[] = [];
    const settled: Interval[] = [];
    expect(addPending(pending, settled, range(11, 20, 10, 5))).toBe(true);
    expect(addPending(pending, settled, range(1, 10, 10, 9))).toBe(true);
    expect(addPending(pending, settled, range(31, 40))).toBe(true);
    expect(pending).toEqual([
      { lo: 1, hi: 20, count: 20, at: 5, firstChunk: 1, lastChunk: 20 },
      { lo: 31, hi: 40, count: 10, at: 31, firstChunk: 31, lastChunk: 40 },
    ]);
    expect(pendingCount(pending)).toBe(30);
  });

  it('ignores a range announced twice, pending or already settled', () => {
    const pending: PendingRange[] = [];
    const settled: Interval[] = [];
    addPending(pending, settled, range(1, 10));
    expect(addPending(pending, settled, range(1, 10))).toBe(false);
    settle(pending, settled, portion(1, 10, 10));
    expect(pending).toEqual([]);
    expect(addPending(pending, settled, range(1, 10))).toBe(false);
    expect(addPending(pending, settled, range(11, 12))).toBe(true);
  });

  it('settles a prefix of a range and keeps the rest with its remaining count, resuming in the chunk the portion names', () => {
    const pending = [range(1, 100, 90)];
    const settled: Interval[] = [];
    settle(pending, settled, portion(1, 40, 35, 33));
    expect(pending).toEqual([{ lo: 41, hi: 100, count: 55, at: 1, firstChunk: 33, lastChunk: 100 }]);
    expect(settled).toEqual([[1, 40]]);
  });

  it('takes at least one range, then whole ranges up to the event limit', () => {
    const pending = [range(1, 10), range(21, 30), range(41, 50)];
    expect(head(pending, 5).map((r) => r.lo)).toEqual([1]);
    expect(head(pending, 20).map((r) => r.lo)).toEqual([1, 21]);
    expect(head(pending, 1000).map((r) => r.lo)).toEqual([1, 21, 41]);
  });

  it('drops everything pending and counts it exactly', () => {
    const pending = [range(1, 10, 7), range(21, 30, 10)];
    const settled: Interval[] = [];
    expect(settleAll(pending, settled)).toBe(17);
    expect(pending).toEqual([]);
    expect(settled).toEqual([[1, 10], [21, 30]]);
  });

  it('keeps the settled set bounded by closing the oldest gaps', () => {
    const settled: Interval[] = [];
    for (let i = 0; i < maxSettledIntervals * 3; i++) addSettled(settled, i * 10, i * 10 + 5);
    expect(settled.length).toBe(maxSettledIntervals);
    expect(settled[settled.length - 1]).toEqual([(maxSettledIntervals * 3 - 1) * 10, (maxSettledIntervals * 3 - 1) * 10 + 5]);
    expect(settled[0][0]).toBe(0);
  });
});

describe('settling after missing seqs', () => {
  it('takes a portion that starts past missing seqs (already taken off the count) with them', async () => {
    const { forgetMissing, pruneEmpty } = await import('../../workflows/ranges.js');
    const pending: PendingRange[] = [range(100, 300, 201)];
    const settled: Interval[] = [];
    forgetMissing(pending, 100, 49); // 151..199 are gone from the log
    settle(pending, settled, portion(100, 150, 51));
    expect(pending).toEqual([{ lo: 151, hi: 300, count: 101, at: 100, firstChunk: 151, lastChunk: 300 }]);
    settle(pending, settled, portion(200, 300, 101));
    pruneEmpty(pending, settled);
    expect(pending).toEqual([]);
    expect(settled).toEqual([[100, 300]]);
  });

  it('settles a pending range whose tail is missing once its count reaches zero', async () => {
    const { forgetMissing, pruneEmpty } = await import('../../workflows/ranges.js');
    const pending: PendingRange[] = [range(1, 20, 20)];
    const settled: Interval[] = [];
    forgetMissing(pending, 1, 10);
    settle(pending, settled, portion(1, 10, 10));
    expect(pending).toEqual([{ lo: 11, hi: 20, count: 0, at: 1, firstChunk: 11, lastChunk: 20 }]);
    pruneEmpty(pending, settled);
    expect(pending).toEqual([]);
  });
});
