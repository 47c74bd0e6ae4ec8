// A destination's delivery state and every transition of it, as pure functions: the
// workflow (./destination.ts) is a loop that calls these and runs activities. Times are
// epoch milliseconds of workflow time; nothing here does I/O.
import type { DestinationStatus } from '../src/model.js';
import { applyStreamProgress, initialStream, streamDropped, type StreamProgress, type StreamState } from '../src/completeness/stream.js';
import {
  addPending,
  forgetMissing,
  head,
  oldestPendingAt,
  pendingCount,
  pruneEmpty,
  settle,
  settleAll,
  type Interval,
  type PendingRange,
} from './ranges.js';

/** The settings a destination delivers under: the service's configuration, reported by its activities. */
export interface DeliveryPolicy {
  retryWindowMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Most events one delivery sends (while failing, a probe sends fewer). */
  maxEventsPerDelivery: number;
  /** A checkpoint is made this long after the last one when events were sent since… */
  checkpointIntervalMs: number;
  /** …and this long after it when none were. */
  checkpointIdleMs: number;
}

export interface DeliveryCounts {
  delivered: number;
  rejected: number;
  dropped: number;
}

export interface DestinationState {
  status: DestinationStatus;
  statusReason: string;
  enabled: boolean;
  /** Announced events not settled yet: what the backlog and the retry window are counted on. */
  pending: PendingRange[];
  /** Seqs settled here, so an announcement repeated after a crash is not taken again. */
  settled: Interval[];
  /** The newest audit-log chunk of any range announced here: a lost workflow's successor reads the log from after it. */
  knownChunk?: number;
  counts: DeliveryCounts;
  /** Failed attempts since the last success. */
  failures: number;
  /** When the oldest buffered event first failed: the retry window runs from here. */
  failingSince?: number;
  /** No delivery before this time (backing off). */
  retryAt?: number;
  /** The destination stored a batch it could not confirm: nothing is resent until it is updated. */
  awaitingUpdate: boolean;
  /** The destination's own sequence numbers and the checkpoint being gathered (src/completeness/stream.ts). */
  stream: StreamState;
  lastDeliveredAt?: number;
  lastErrorAt?: number;
  policy: DeliveryPolicy;
  /** Status changes not yet written into the tenant's audit log (the next mirror writes them). */
  statusChanges?: StatusChange[];
  /** Status changes so far: numbers each one, so writing one twice writes one event. */
  statusChangeCount?: number;
  /** A backfill being replayed into the destination, from the audit log. */
  replay?: Replay;
  /** The next delivery is the backfill's turn: live events and a backfill take turns. */
  replayTurn?: boolean;
  /** The status the mirror in MongoDB last got. */
  mirroredStatus?: DestinationStatus;
  /** The state changed since it was mirrored: mirror it by this time. */
  mirrorDueAt?: number;
}

/**
 * A change of backlog or counters is mirrored once it is this old (a delivery mirrors the state
 * it starts from, so under load the next one does it first); a status change is mirrored at once.
 */
export const mirrorDelayMs = 3_000;

/** A backfill's progress through the seqs it replays (the events themselves stay in the audit log). */
export interface Replay {
  id: string;
  nextSeq: number;
  lastSeq: number;
}

/** What one replay delivery got through. */
export interface ReplayProgress {
  /** Replay resumes here; past `lastSeq` it is done. */
  nextSeq: number;
  delivered: number;
  rejected: number;
}

/** Events one backfill delivery sends at most: live events never wait behind more than this. */
export const replayEventsPerDelivery = 1_000;

/** A change of a destination's status, as its tenant's audit log records it. */
export interface StatusChange {
  n: number;
  from: DestinationStatus;
  to: DestinationStatus;
  reason: string;
  at: number;
  windowEndsAt?: number;
  backlogEvents: number;
  /** The oldest event waiting then: where a failure's gap begins (a backfill of it starts there). */
  firstPendingSeq?: number;
  dropped: number;
}

/** Changes kept for the audit log when it cannot be written for a while: the newest win. */
const maxUnwrittenChanges = 20;

/** Every status change goes through here, so none escapes the audit log. */
function setStatus(state: DestinationState, status: DestinationStatus, reason: string, now: number): void {
  const from = state.status;
  state.status = status;
  state.statusReason = reason;
  if (from === status) return;
  const n = (state.statusChangeCount ?? 0) + 1;
  state.statusChangeCount = n;
  const change: StatusChange = { n, from, to: status, reason, at: now, backlogEvents: pendingCount(state.pending), dropped: state.counts.dropped };
  if (state.pending.length > 0) change.firstPendingSeq = state.pending[0].lo;
  const end = windowEndsAt(state);
  if (end !== undefined) change.windowEndsAt = end;
  state.statusChanges = [...(state.statusChanges ?? []), change].slice(-maxUnwrittenChanges);
}

/** The changes a mirror has written: they leave the state. */
export function statusChangesWritten(state: DestinationState, upTo: number): void {
  state.statusChanges = (state.statusChanges ?? []).filter((change) => change.n > upTo);
}

/** A portion of one chunk a delivery settled: seqs `lo`..`hi` holding `count` events; the seqs after `hi` go on in chunk `next`. */
export interface SettledPortion {
  lo: number;
  hi: number;
  count: number;
  next: number;
}

/** What a delivery settled: its seq portions, counts, and what the log no longer holds. */
export interface DeliveryProgress {
  /** Delivered or rejected portions, in seq order. */
  settled: SettledPortion[];
  delivered: number;
  rejected: number;
  /** Pending ranges (by their first seq) whose events retention took before they could be sent: dropped. */
  missing: { lo: number; count: number }[];
  /** Something the destination's answers say the user should know (shown as the status reason). */
  note?: string;
  /** The service's delivery settings now: they apply from here on. */
  policy: DeliveryPolicy;
  /** How the destination's sequence went on: what got numbers, and the chain over what was sent. */
  stream: StreamProgress;
}

export interface DeliveryFailureInfo {
  reason: string;
  progress?: DeliveryProgress;
  /** A backfill delivery's part that got through. */
  replay?: ReplayProgress;
  retryAfterMs?: number;
  /** The destination stored the events but cannot confirm them: resending would only duplicate. */
  awaitUpdate?: boolean;
  /** The destination no longer exists. */
  gone?: boolean;
}

/** What the workflow mirrors into MongoDB: what Get and List show, and what a lost workflow starts again from. */
export interface StateRecord extends DestinationSnapshot {
  failingSince?: number;
  pending: PendingRange[];
  settled: Interval[];
  knownChunk?: number;
  /** Status changes the tenant's audit log has yet to get: written with the mirror. */
  statusChanges: StatusChange[];
  stream: StreamState;
}

/** The state changed: the mirror is due at once for a new status, else after the mirror delay. */
export function changed(state: DestinationState, now: number): void {
  const due = state.status !== state.mirroredStatus ? now : now + mirrorDelayMs;
  state.mirrorDueAt = Math.min(state.mirrorDueAt ?? Infinity, due);
}

/** The record a mirror write takes now; nothing is due until the state changes again. */
export function takeRecord(state: DestinationState): StateRecord {
  state.mirroredStatus = state.status;
  state.mirrorDueAt = undefined;
  return {
    ...snapshot(state),
    failingSince: state.failingSince,
    pending: state.pending.map((range) => ({ ...range })),
    settled: state.settled.map(([lo, hi]): Interval => [lo, hi]),
    knownChunk: state.knownChunk,
    statusChanges: state.statusChanges ?? [],
    stream: JSON.parse(JSON.stringify(state.stream)) as StreamState, // a copy: the workflow goes on changing its own
  };
}

/** A mirror holding this record was written: its status changes are in the audit log now. */
export function recordWritten(state: DestinationState, record: StateRecord): void {
  const last = record.statusChanges[record.statusChanges.length - 1];
  if (last) statusChangesWritten(state, last.n);
}

/** What Get/List show and the `status` query answers. */
export interface DestinationSnapshot {
  status: DestinationStatus;
  statusReason: string;
  enabled: boolean;
  backlogEvents: number;
  oldestEventAt?: number;
  windowEndsAt?: number;
  delivered: number;
  rejected: number;
  dropped: number;
  failures: number;
  retryAt?: number;
  lastDeliveredAt?: number;
  lastErrorAt?: number;
  pendingRanges: number;
  settledIntervals: number;
  /** Size of the whole state as JSON: it must stay small whatever the backlog. */
  stateBytes: number;
}

/** Events a retry sends while the destination is failing: a probe, not the backlog. */
export const probeEvents = 100;

export function initialState(enabled: boolean, policy: DeliveryPolicy): DestinationState {
  return {
    status: 'active',
    statusReason: '',
    enabled,
    pending: [],
    settled: [],
    counts: { delivered: 0, rejected: 0, dropped: 0 },
    failures: 0,
    awaitingUpdate: false,
    stream: initialStream(),
    policy,
  };
}

export function windowEndsAt(state: DestinationState): number | undefined {
  if (state.status !== 'degraded' || state.failingSince === undefined) return undefined;
  return state.failingSince + state.policy.retryWindowMs;
}

/** Something waits to be sent: live events, or a backfill. */
function hasWork(state: DestinationState): boolean {
  return state.pending.length > 0 || state.replay !== undefined;
}

export function windowOver(state: DestinationState, now: number): boolean {
  const end = windowEndsAt(state);
  return end !== undefined && hasWork(state) && now >= end;
}

/** Whether a delivery may start now. */
export function deliverable(state: DestinationState, now: number): boolean {
  return (
    state.enabled &&
    state.status !== 'failed' &&
    hasWork(state) &&
    !state.awaitingUpdate &&
    (state.retryAt === undefined || now >= state.retryAt)
  );
}

/** When the loop must wake up by itself: a retry due, the retry window ending, the mirror due, a checkpoint due. */
export function nextWakeAt(state: DestinationState): number | undefined {
  const times: number[] = [];
  const end = windowEndsAt(state);
  if (end !== undefined && hasWork(state)) times.push(end);
  if (state.retryAt !== undefined && state.enabled && !state.awaitingUpdate && hasWork(state)) times.push(state.retryAt);
  if (state.mirrorDueAt !== undefined) times.push(state.mirrorDueAt);
  if (state.stream.unsent && state.retryAt !== undefined && state.enabled && !state.awaitingUpdate) times.push(state.retryAt);
  const checkpointAt = checkpointDueAt(state);
  if (checkpointAt !== undefined) times.push(checkpointAt);
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Checkpoints go to a destination that takes deliveries now: enabled, not failed, not backing off. */
function sendsNow(state: DestinationState, now: number): boolean {
  return state.enabled && state.status !== 'failed' && !state.awaitingUpdate && (state.retryAt === undefined || now >= state.retryAt);
}

/**
 * Dropped or refused ranges a checkpoint gathers before it is made early: scattered refusals
 * would otherwise grow the workflow's state (and its mirror) for a whole interval.
 */
export const maxRangesPerCheckpoint = 64;

/** When the next checkpoint is to be made: an interval after the last, a longer one when nothing was sent since, at once when it holds many ranges. */
export function checkpointDueAt(state: DestinationState): number | undefined {
  const { stream, policy } = state;
  if (stream.unsent || stream.lastMadeAt === undefined || !state.enabled || state.status === 'failed') return undefined;
  if (stream.dropped.length + stream.rejected.length >= maxRangesPerCheckpoint) return stream.lastMadeAt;
  return stream.lastMadeAt + (stream.next > stream.from ? policy.checkpointIntervalMs : policy.checkpointIdleMs);
}

/** Whether a checkpoint is due to be made now. */
export function checkpointDue(state: DestinationState, now: number): boolean {
  const due = checkpointDueAt(state);
  return due !== undefined && now >= due;
}

/** Whether the checkpoint made and not yet sent can be sent now. */
export function checkpointSendable(state: DestinationState, now: number): boolean {
  return state.stream.unsent !== undefined && sendsNow(state, now);
}

/** Whether the mirror is due now. */
export function mirrorDue(state: DestinationState, now: number): boolean {
  return state.mirrorDueAt !== undefined && now >= state.mirrorDueAt;
}

/** Exponential backoff with equal jitter, at least Retry-After, capped. `random` is in [0, 1). */
export function backoffMs(policy: DeliveryPolicy, failures: number, retryAfterMs: number | undefined, random: number): number {
  const exponential = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(30, failures - 1));
  const delay = exponential / 2 + (random * exponential) / 2;
  return retryAfterMs === undefined ? delay : Math.max(delay, Math.min(retryAfterMs, policy.maxBackoffMs));
}

/** Takes announced ranges in. While failed nothing is sent: they are dropped, and counted. */
export function announce(state: DestinationState, ranges: PendingRange[]): boolean {
  let changed = false;
  for (const range of ranges) {
    if (!addPending(state.pending, state.settled, range)) continue;
    changed = true;
    state.knownChunk = Math.max(state.knownChunk ?? -1, range.lastChunk);
    if (state.status === 'failed') drop(state);
  }
  return changed;
}

/** What one live delivery activity is asked to send: the oldest pending ranges, within its budget. */
export function deliveryRequest(state: DestinationState): { expect: PendingRange[]; probe: boolean } {
  const probe = state.failures > 0;
  const budget = probe ? Math.min(probeEvents, state.policy.maxEventsPerDelivery) : state.policy.maxEventsPerDelivery;
  return { expect: head(state.pending, budget), probe };
}

function applyProgress(state: DestinationState, progress: DeliveryProgress, now: number): void {
  for (const missing of progress.missing) {
    forgetMissing(state.pending, missing.lo, missing.count);
    state.counts.dropped += missing.count;
  }
  for (const portion of progress.settled) settle(state.pending, state.settled, portion);
  pruneEmpty(state.pending, state.settled);
  state.counts.delivered += progress.delivered;
  state.counts.rejected += progress.rejected;
  applyStreamProgress(state.stream, progress.stream);
  if (progress.delivered > 0) state.lastDeliveredAt = now;
  state.policy = progress.policy;
}

/** After a delivery of either kind, the other kind's turn. */
export function tookTurn(state: DestinationState, kind: 'live' | 'replay'): void {
  state.replayTurn = kind === 'live' && state.replay !== undefined;
}

/** A successful delivery: active again (a backfill's progress is applied by `replayed`). */
export function deliverySucceeded(state: DestinationState, progress: DeliveryProgress | undefined, now: number, note?: string): void {
  if (progress) applyProgress(state, progress, now);
  state.failures = 0;
  state.failingSince = undefined;
  state.retryAt = undefined;
  state.awaitingUpdate = false;
  setStatus(state, 'active', progress?.note ?? note ?? '', now);
}

/** A failed attempt: degraded with the reason, and the next attempt scheduled within the window. */
export function deliveryFailed(state: DestinationState, failure: DeliveryFailureInfo, now: number, random: number): void {
  const madeProgress = (failure.progress?.settled.length ?? 0) > 0;
  if (failure.progress) applyProgress(state, failure.progress, now);
  state.failures++;
  state.lastErrorAt = now;
  // The window runs from the first failure of the oldest event still buffered.
  if (state.failingSince === undefined || madeProgress) state.failingSince = now;
  state.awaitingUpdate = failure.awaitUpdate === true;
  setStatus(state, 'degraded', failure.reason, now);
  const end = windowEndsAt(state)!;
  state.retryAt = state.awaitingUpdate ? undefined : Math.min(now + backoffMs(state.policy, state.failures, failure.retryAfterMs, random), end);
}

/** An update of the destination: retry at once; a failed destination left enabled streams again. */
export function reconfigure(state: DestinationState, enabled: boolean, now: number): void {
  state.enabled = enabled;
  state.retryAt = undefined;
  state.awaitingUpdate = false;
  if (enabled && state.status === 'failed') {
    state.failures = 0;
    state.failingSince = undefined;
    setStatus(state, 'active', '', now);
  }
}

/**
 * Which delivery comes next. Live events first; a backfill takes every other delivery while
 * live events wait, so they never wait behind more than one backfill delivery.
 */
export function nextDelivery(state: DestinationState): 'live' | 'replay' {
  if (!state.replay) return 'live';
  if (state.pending.length === 0) return 'replay';
  return state.replayTurn ? 'replay' : 'live';
}

/** Starts a backfill of seqs `fromSeq`..`lastSeq`; one at a time. */
export function startReplay(state: DestinationState, replay: { id: string; fromSeq: number; lastSeq: number }): void {
  state.replay = { id: replay.id, nextSeq: replay.fromSeq, lastSeq: replay.lastSeq };
  state.retryAt = undefined;
}

/** A backfill delivery went through (in part, when it failed): true once the backfill is done. */
export function replayed(state: DestinationState, progress: ReplayProgress): boolean {
  if (!state.replay) return false;
  state.replay.nextSeq = Math.max(state.replay.nextSeq, progress.nextSeq);
  if (state.replay.nextSeq <= state.replay.lastSeq) return false;
  state.replay = undefined;
  return true;
}

/** Drops every pending event (counted) and returns how many. */
export function drop(state: DestinationState): number {
  const count = settleAll(state.pending, state.settled);
  state.counts.dropped += count;
  streamDropped(state.stream, count);
  return count;
}

/** The retry window is spent: buffered events are dropped and counted, nothing more is sent. */
export function exhaustWindow(state: DestinationState, now: number): void {
  const since = new Date(state.failingSince!).toISOString();
  const lastReason = state.statusReason;
  const dropped = drop(state);
  state.failingSince = undefined;
  state.replay = undefined; // a backfill ends with the window (the workflow reports it failed)
  setStatus(
    state,
    'failed',
    `retries exhausted: no successful delivery since ${since}; ${dropped} buffered events dropped. ` +
      `Last error: ${lastReason}. Fix the destination, then update it to re-enable streaming.`,
    now,
  );
  state.retryAt = undefined;
  state.awaitingUpdate = false;
}

export function snapshot(state: DestinationState): DestinationSnapshot {
  return {
    status: state.status,
    statusReason: state.statusReason,
    enabled: state.enabled,
    backlogEvents: pendingCount(state.pending),
    oldestEventAt: oldestPendingAt(state.pending),
    windowEndsAt: windowEndsAt(state),
    ...state.counts,
    failures: state.failures,
    retryAt: state.retryAt,
    lastDeliveredAt: state.lastDeliveredAt,
    lastErrorAt: state.lastErrorAt,
    pendingRanges: state.pending.length,
    settledIntervals: state.settled.length,
    stateBytes: JSON.stringify(state).length,
  };
}

/** The Temporal UI's "current details" of the workflow. */
export function describe(view: DestinationSnapshot): string {
  const lines = [`**${view.status}**${view.statusReason ? `: ${view.statusReason}` : ''}`];
  if (view.backlogEvents > 0) lines.push(`backlog: ${view.backlogEvents} events`);
  if (view.windowEndsAt !== undefined) lines.push(`retry window ends: ${new Date(view.windowEndsAt).toISOString()}`);
  if (view.retryAt !== undefined) lines.push(`next attempt: ${new Date(view.retryAt).toISOString()}`);
  lines.push(`delivered ${view.delivered}, rejected ${view.rejected}, dropped ${view.dropped}`);
  return lines.join('\n\n');
}
