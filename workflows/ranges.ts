// Sequence-range bookkeeping of a destination workflow. Pure and deterministic: what the
// workflow owes is a few of these ranges, never event payloads.

/**
 * Announced, not yet settled events: seq `lo`..`hi` holding `count` events, oldest received at
 * `at` (ms), stored in the audit log's chunks `firstChunk`..`lastChunk` (src/store/audit-log.ts).
 */
export interface PendingRange {
  lo: number;
  hi: number;
  count: number;
  at: number;
  firstChunk: number;
  lastChunk: number;
}

/** Seqs whose fate is decided (delivered, rejected, dropped): `[lo, hi]` inclusive. */
export type Interval = [number, number];

/** Past this many settled intervals the lowest gap is closed, bounding the state. */
export const maxSettledIntervals = 64;

function overlaps(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return aLo <= bHi && bLo <= aHi;
}

export function isKnown(range: { lo: number; hi: number }, pending: PendingRange[], settled: Interval[]): boolean {
  return (
    pending.some((p) => overlaps(range.lo, range.hi, p.lo, p.hi)) ||
    settled.some(([lo, hi]) => overlaps(range.lo, range.hi, lo, hi))
  );
}

/**
 * Adds an announced range unless any of it is already pending or settled: ranges are
 * whole ingest batches, so any overlap means the same batch announced again.
 */
export function addPending(pending: PendingRange[], settled: Interval[], range: PendingRange): boolean {
  if (range.hi < range.lo || isKnown(range, pending, settled)) return false;
  pending.push({ ...range });
  pending.sort((a, b) => a.lo - b.lo);
  for (let i = pending.length - 1; i > 0; i--) {
    const left = pending[i - 1];
    const right = pending[i];
    // Adjacent seqs are consecutive flushes, whose chunks are consecutive too.
    if (left.hi + 1 === right.lo) {
      pending.splice(i - 1, 2, { lo: left.lo, hi: right.hi, count: left.count + right.count, at: Math.min(left.at, right.at), firstChunk: left.firstChunk, lastChunk: right.lastChunk });
    }
  }
  return true;
}

/** Sorted, merged copy of `intervals` (adjacent and overlapping ones joined). */
export function mergeIntervals(intervals: Interval[]): Interval[] {
  const merged: Interval[] = [];
  for (const [lo, hi] of [...intervals].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

export function addSettled(settled: Interval[], lo: number, hi: number): void {
  const merged = mergeIntervals([...settled, [lo, hi]]);
  // Gaps are seqs never announced here (flushes for other destinations, repeats taken out);
  // closing the oldest keeps the state bounded. Nothing is lost by it: announcements reach a
  // destination in the order of its flushes (src/ingest/dispatcher.ts keeps one queue per
  // destination, and a failed flush is finished before the next), so no gap that old fills.
  while (merged.length > maxSettledIntervals) {
    const [first, second] = merged.splice(0, 2);
    merged.unshift([first[0], second[1]]);
  }
  settled.splice(0, settled.length, ...merged);
}

/**
 * Marks `lo..hi`, holding `count` events, as settled: the start of a pending range, whose seqs
 * after `hi` go on in chunk `next`; or outside every pending range (delivered before its
 * announcement arrived), which only records it as settled.
 */
export function settle(pending: PendingRange[], settled: Interval[], portion: { lo: number; hi: number; count: number; next: number }): void {
  const { lo, hi, count, next } = portion;
  const index = pending.findIndex((p) => overlaps(lo, hi, p.lo, p.hi));
  let from = lo;
  if (index !== -1) {
    const range = pending[index];
    from = Math.min(lo, range.lo);
    if (hi >= range.hi) pending.splice(index, 1);
    else pending[index] = { ...range, lo: hi + 1, count: Math.max(0, range.count - count), firstChunk: next };
  }
  addSettled(settled, from, hi);
}

/** Takes `count` events the log no longer holds off the pending range holding seq `lo`. */
export function forgetMissing(pending: PendingRange[], lo: number, count: number): void {
  const range = pending.find((p) => p.lo <= lo && lo <= p.hi);
  if (range) range.count = Math.max(0, range.count - count);
}

/** Settles pending ranges left with no event (all of them delivered or missing). */
export function pruneEmpty(pending: PendingRange[], settled: Interval[]): void {
  for (const range of pending.filter((p) => p.count === 0)) {
    pending.splice(pending.indexOf(range), 1);
    addSettled(settled, range.lo, range.hi);
  }
}

/** Settles everything pending; returns how many events that was. */
export function settleAll(pending: PendingRange[], settled: Interval[]): number {
  let count = 0;
  for (const range of pending.splice(0, pending.length)) {
    count += range.count;
    addSettled(settled, range.lo, range.hi);
  }
  return count;
}

export function pendingCount(pending: PendingRange[]): number {
  return pending.reduce((sum, range) => sum + range.count, 0);
}

export function oldestPendingAt(pending: PendingRange[]): number | undefined {
  return pending.length === 0 ? undefined : Math.min(...pending.map((range) => range.at));
}

/** The first ranges holding up to `maxEvents` events (at least one range). */
export function head(pending: PendingRange[], maxEvents: number): PendingRange[] {
  const taken: PendingRange[] = [];
  let events = 0;
  for (const range of pending) {
    if (taken.length > 0 && events + range.count > maxEvents) break;
    taken.push({ ...range });
    events += range.count;
  }
  return taken;
}
