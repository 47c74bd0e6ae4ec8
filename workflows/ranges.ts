// Sequence-range bookkeeping of a destination workflow. Pure and deterministic: the
// workflow's whole buffer is a few of these ranges, never event payloads.

/** Announced, not yet settled events: seq `lo`..`hi` holding `count` events, oldest received at `at` (ms). */
export interface PendingRange {
  lo: number;
  hi: number;
  count: number;
  at: number;
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
    if (left.hi + 1 === right.lo) {
      pending.splice(i - 1, 2, { lo: left.lo, hi: right.hi, count: left.count + right.count, at: Math.min(left.at, right.at) });
    }
  }
  return true;
}

export function addSettled(settled: Interval[], lo: number, hi: number): void {
  settled.push([lo, hi]);
  settled.sort((a, b) => a[0] - b[0]);
  const merged: Interval[] = [];
  for (const interval of settled) {
    const last = merged[merged.length - 1];
    if (last && interval[0] <= last[1] + 1) last[1] = Math.max(last[1], interval[1]);
    else merged.push([interval[0], interval[1]]);
  }
  // Gaps are seqs never announced here (another destination's batches, a crashed flush);
  // closing the oldest keeps the state bounded at the cost of ignoring a very late announcement.
  while (merged.length > maxSettledIntervals) {
    const [first, second] = merged.splice(0, 2);
    merged.unshift([first[0], second[1]]);
  }
  settled.splice(0, settled.length, ...merged);
}

/** Marks `lo..hi` (a prefix of one pending range) holding `count` events as settled. */
export function settle(pending: PendingRange[], settled: Interval[], lo: number, hi: number, count: number): void {
  const index = pending.findIndex((p) => p.lo === lo);
  if (index === -1) return;
  const range = pending[index];
  if (hi >= range.hi) pending.splice(index, 1);
  else pending[index] = { lo: hi + 1, hi: range.hi, count: Math.max(0, range.count - count), at: range.at };
  addSettled(settled, lo, Math.min(hi, range.hi));
}

/** Settles everything pending and returns how many events that was. */
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
