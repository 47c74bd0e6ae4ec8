import { describe, expect, it } from 'vitest';
import {
  announce,
  backoffMs,
  checkpointDue,
  checkpointDueAt,
  maxRangesPerCheckpoint,
  changed,
  mirrorDelayMs,
  mirrorDue,
  recordWritten,
  takeRecord,
  deliverable,
  deliveryFailed,
  deliveryRequest,
  deliverySucceeded,
  exhaustWindow,
  initialState,
  nextWakeAt,
  nextDelivery,
  reconfigure,
  replayed,
  startReplay,
  statusChangesWritten,
  tookTurn,
  windowEndsAt,
  type DeliveryPolicy,
  type DeliveryProgress,
} from '../../workflows/state.js';

const policy: DeliveryPolicy = { retryWindowMs: 10_000, initialBackoffMs: 1_000, maxBackoffMs: 8_000, maxEventsPerDelivery: 500, checkpointIntervalMs: 60_000, checkpointIdleMs: 3600_000 };
const range = (lo: number, hi: number, at = 0) => ({ lo, hi, count: hi - lo + 1, at, firstChunk: lo, lastChunk: hi });
const noStream = { next: 1, chain: '', sent: 0, dropped: [], rejected: [] };
const progress = (over: Partial<DeliveryProgress> = {}): DeliveryProgress => ({ settled: [], delivered: 0, rejected: 0, missing: [], policy, stream: noStream, ...over });

describe('delivery state', () => {
  it('backs off exponentially with jitter between half and the whole step, at least Retry-After, capped', () => {
    expect([1, 2, 3, 4, 5].map((failures) => backoffMs(policy, failures, undefined, 0))).toEqual([500, 1_000, 2_000, 4_000, 4_000]);
    expect([1, 2, 3, 4, 5].map((failures) => backoffMs(policy, failures, undefined, 0.999999))).toEqual([1_000, 2_000, 4_000, 8_000, 8_000].map((v) => expect.closeTo(v, 0)));
    expect(backoffMs(policy, 1, 5_000, 0)).toBe(5_000);
    expect(backoffMs(policy, 1, 60_000, 0)).toBe(8_000);
  });

  it('degrades on a failure with the window from the first failure, probes while failing, and recovers on success', () => {
    const state = initialState(true, policy);
    announce(state, [range(1, 600)]);
    expect(deliveryRequest(state)).toMatchObject({ probe: false, expect: [range(1, 600)] });
    deliveryFailed(state, { reason: 'HTTP 503' }, 1_000, 0);
    expect(state).toMatchObject({ status: 'degraded', statusReason: 'HTTP 503', failingSince: 1_000, retryAt: 1_500, failures: 1 });
    expect(windowEndsAt(state)).toBe(11_000);
    expect(deliverable(state, 1_499)).toBe(false);
    expect(nextWakeAt(state)).toBe(1_500);
    expect(deliveryRequest(state).probe).toBe(true);
    deliveryFailed(state, { reason: 'HTTP 503' }, 2_000, 0);
    expect(state.failingSince).toBe(1_000); // the window is not moved by later failures
    deliverySucceeded(state, progress({ settled: [{ lo: 1, hi: 600, count: 600, next: 601 }], delivered: 600 }), 3_000);
    expect(state).toMatchObject({ status: 'active', failures: 0, failingSince: undefined, retryAt: undefined, pending: [], settled: [[1, 600]] });
    expect(state.counts).toEqual({ delivered: 600, rejected: 0, dropped: 0 });
  });

  it('restarts the window when a failing delivery still got some events through', () => {
    const state = initialState(true, policy);
    announce(state, [range(1, 10)]);
    deliveryFailed(state, { reason: 'HTTP 503' }, 1_000, 0);
    deliveryFailed(state, { reason: 'HTTP 503', progress: progress({ settled: [{ lo: 1, hi: 5, count: 5, next: 6 }], delivered: 5 }) }, 4_000, 0);
    expect(state.failingSince).toBe(4_000);
    expect(state.pending).toEqual([{ lo: 6, hi: 10, count: 5, at: 0, firstChunk: 6, lastChunk: 10 }]);
  });

  it('fails at the end of the window: drops and counts the backlog, settles it, drops what arrives later', () => {
    const state = initialState(true, policy);
    announce(state, [range(1, 7)]);
    deliveryFailed(state, { reason: 'HTTP 500' }, 0, 0);
    exhaustWindow(state, 0);
    expect(state).toMatchObject({ status: 'failed', pending: [], settled: [[1, 7]], retryAt: undefined, failingSince: undefined });
    expect(state.statusReason).toMatch(/7 buffered events dropped\. Last error: HTTP 500\./);
    announce(state, [range(8, 9)]);
    expect(state.counts.dropped).toBe(9);
    expect(state.settled).toEqual([[1, 9]]);
    expect(state.knownChunk).toBe(9);
    expect(deliverable(state, 1e12)).toBe(false);
  });

  it('an update retries at once and re-enables a failed destination that stays enabled; a disabled one stays failed', () => {
    const state = initialState(true, policy);
    announce(state, [range(1, 1)]);
    deliveryFailed(state, { reason: 'x' }, 0, 0);
    exhaustWindow(state, 0);
    reconfigure(state, false, 0);
    expect(state.status).toBe('failed');
    reconfigure(state, true, 0);
    expect(state).toMatchObject({ status: 'active', statusReason: '', failures: 0, enabled: true });
  });

  it('waits for an update, not a timer, after the destination stored what it could not confirm', () => {
    const state = initialState(true, policy);
    announce(state, [range(1, 2)]);
    deliveryFailed(state, { reason: 'no ackId', awaitUpdate: true }, 0, 0);
    expect(state.retryAt).toBeUndefined();
    expect(deliverable(state, 1e9)).toBe(false);
    expect(nextWakeAt(state)).toBe(10_000); // only the window end
    reconfigure(state, true, 0);
    expect(deliverable(state, 1)).toBe(true);
  });

  it('gives a backfill every other delivery while live events wait, and all of them when none do', () => {
    const state = initialState(true, policy);
    startReplay(state, { id: 'bkf_1', fromSeq: 1, lastSeq: 100 });
    expect(deliverable(state, 0)).toBe(true);
    expect(nextDelivery(state)).toBe('replay'); // nothing live waits
    announce(state, [range(101, 110)]);
    expect(nextDelivery(state)).toBe('live');
    tookTurn(state, 'live');
    expect(nextDelivery(state)).toBe('replay');
    tookTurn(state, 'replay');
    expect(nextDelivery(state)).toBe('live');
    expect(replayed(state, { nextSeq: 51, delivered: 50, rejected: 0 })).toBe(false);
    expect(state.replay).toEqual({ id: 'bkf_1', nextSeq: 51, lastSeq: 100 });
    expect(replayed(state, { nextSeq: 101, delivered: 50, rejected: 0 })).toBe(true);
    expect(state.replay).toBeUndefined();
    expect(nextDelivery(state)).toBe('live');
  });

  it('ends a backfill with the retry window, and keeps the window running for it alone', () => {
    const state = initialState(true, policy);
    startReplay(state, { id: 'bkf_1', fromSeq: 1, lastSeq: 100 });
    deliveryFailed(state, { reason: 'HTTP 503' }, 0, 0);
    expect(windowEndsAt(state)).toBe(10_000);
    expect(nextWakeAt(state)).toBeLessThanOrEqual(10_000);
    exhaustWindow(state, 10_000);
    expect(state).toMatchObject({ status: 'failed', replay: undefined });
  });

  it('numbers every status change for the audit log, and forgets those written', () => {
    const state = initialState(true, policy);
    announce(state, [range(7, 9)]);
    deliveryFailed(state, { reason: 'HTTP 503' }, 1_000, 0);
    deliveryFailed(state, { reason: 'HTTP 502' }, 2_000, 0); // still degraded: no change
    deliverySucceeded(state, progress({ settled: [{ lo: 7, hi: 9, count: 3, next: 10 }], delivered: 3 }), 3_000);
    expect(state.statusChanges).toEqual([
      { n: 1, from: 'active', to: 'degraded', reason: 'HTTP 503', at: 1_000, windowEndsAt: 11_000, backlogEvents: 3, firstPendingSeq: 7, dropped: 0 },
      { n: 2, from: 'degraded', to: 'active', reason: '', at: 3_000, backlogEvents: 0, dropped: 0 },
    ]);
    statusChangesWritten(state, 1);
    expect(state.statusChanges?.map((change) => change.n)).toEqual([2]);
  });

  it('keeps the mirror’s bookkeeping: due at once for a new status, after the delay for anything else, cleared when a record is taken', () => {
    const state = initialState(true, policy);
    changed(state, 1_000);
    expect(state.mirrorDueAt).toBe(1_000); // nothing mirrored yet: its status is new to the mirror
    const first = takeRecord(state);
    expect(state.mirrorDueAt).toBeUndefined();
    recordWritten(state, first);
    announce(state, [range(1, 5)]);
    changed(state, 2_000);
    expect(state.mirrorDueAt).toBe(2_000 + mirrorDelayMs);
    changed(state, 2_500); // a later change does not push it back
    expect(state.mirrorDueAt).toBe(2_000 + mirrorDelayMs);
    expect(mirrorDue(state, 2_000 + mirrorDelayMs - 1)).toBe(false);
    expect(nextWakeAt(state)).toBe(2_000 + mirrorDelayMs);
    deliveryFailed(state, { reason: 'HTTP 503' }, 3_000, 0);
    changed(state, 3_000);
    expect(state.mirrorDueAt).toBe(3_000); // a status change is mirrored at once
    const record = takeRecord(state);
    expect(record).toMatchObject({ status: 'degraded', backlogEvents: 5, pending: [range(1, 5)], settled: [], knownChunk: 5 });
    expect(record.statusChanges.map((change) => change.to)).toEqual(['degraded']);
    recordWritten(state, record);
    expect(state.statusChanges).toEqual([]);
  });

  it('makes a checkpoint an interval after the last while events flow, an hour when none do, and at once when refusals scatter', () => {
    const state = initialState(true, policy);
    state.stream.lastMadeAt = 0;
    expect(checkpointDueAt(state)).toBe(3600_000);
    state.stream.next = 5; // events sent since
    expect(checkpointDueAt(state)).toBe(60_000);
    expect(checkpointDue(state, 59_999)).toBe(false);
    // Scattered refusals: the state would grow for a whole interval; the checkpoint is made now.
    for (let i = 0; i < maxRangesPerCheckpoint; i++) state.stream.rejected.push({ lo: 10 + 2 * i, hi: 10 + 2 * i });
    expect(checkpointDue(state, 1)).toBe(true);
    // Not while disabled or failed: nothing is sent then.
    expect(checkpointDueAt({ ...state, enabled: false })).toBeUndefined();
  });
});
