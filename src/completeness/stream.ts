// A destination's own sequence and the checkpoint it is gathering: plain data and pure
// functions, kept in its workflow's state (workflows/state.ts) and mirrored with it, so the
// numbering survives restarts, failovers and continue-as-new. Hashing and signing happen in
// activities (./checkpoint.ts); nothing here does I/O.

/** A run of sequence numbers, both ends included (an object: FerretDB stores no arrays inside arrays). */
export interface SequenceRange {
  lo: number;
  hi: number;
}

/** SHA-256 of nothing yet: 32 zero bytes, base64 — a chain's start and the first checkpoint's `previous`. */
export const zeroHash = `${'A'.repeat(43)}=`;

/** What a checkpoint says, decided by the workflow (so sending it again sends the same checkpoint). */
export interface CheckpointPlan {
  /** 1, 2, …: the destination's checkpoints, without a gap. */
  n: number;
  /** The sequence range covered: from the previous checkpoint's `last` + 1; `last` = `first` − 1 when nothing was sent. */
  first: number;
  last: number;
  /** Events sent in the range (and stored by the destination): what `events` chains. */
  count: number;
  /** The chain over those events, base64 (./checkpoint.ts says how). */
  events: string;
  /** Ranges the destination was meant to get that were dropped (its retry window ended, or retention took them first). */
  dropped: SequenceRange[];
  /** Ranges the destination refused for good (each refusal's reason is kept with the destination's rejections). */
  rejected: SequenceRange[];
  /** SHA-256 of the previous checkpoint's text, base64 (zeros for the first). */
  previous: string;
  /** When it was made, epoch ms. */
  at: number;
}

export interface StreamState {
  /** The sequence number the next event meant for the destination takes (sent, refused or dropped). */
  next: number;
  /** The first sequence the next checkpoint covers. */
  from: number;
  /** The chain over the events sent since the last checkpoint, base64. */
  chain: string;
  /** Events sent since the last checkpoint. */
  sent: number;
  dropped: SequenceRange[];
  rejected: SequenceRange[];
  /** Checkpoints made so far. */
  made: number;
  /** SHA-256 of the text of the last checkpoint sent, base64. */
  previous: string;
  /** When the last checkpoint was made (the next is due an interval after it). */
  lastMadeAt?: number;
  /** A checkpoint made and not yet confirmed by the destination: sent again, unchanged, before the next is made. */
  unsent?: CheckpointPlan;
}

/** What one delivery did to the sequence: the activity numbers, chains and reports it. */
export interface StreamProgress {
  next: number;
  chain: string;
  sent: number;
  dropped: SequenceRange[];
  rejected: SequenceRange[];
}

export function initialStream(): StreamState {
  return { next: 1, from: 1, chain: zeroHash, sent: 0, dropped: [], rejected: [], made: 0, previous: zeroHash };
}

/** Adds `lo`..`hi` to a list of ranges in order, joining it to the last one when they touch. */
export function addRange(list: SequenceRange[], lo: number, hi: number): void {
  if (hi < lo) return;
  const last = list[list.length - 1];
  if (last && last.hi + 1 === lo) last.hi = hi;
  else list.push({ lo, hi });
}

/** `count` events meant for the destination were dropped: they take the next numbers. */
export function streamDropped(stream: StreamState, count: number): void {
  addRange(stream.dropped, stream.next, stream.next + count - 1);
  stream.next += Math.max(0, count);
}

export function applyStreamProgress(stream: StreamState, progress: StreamProgress): void {
  for (const range of progress.dropped) addRange(stream.dropped, range.lo, range.hi);
  for (const range of progress.rejected) addRange(stream.rejected, range.lo, range.hi);
  stream.next = progress.next;
  stream.chain = progress.chain;
  stream.sent += progress.sent;
}

/** Makes the checkpoint of everything since the last one, and starts gathering the next. */
export function makeCheckpoint(stream: StreamState, now: number): CheckpointPlan {
  const plan: CheckpointPlan = {
    n: stream.made + 1,
    first: stream.from,
    last: stream.next - 1,
    count: stream.sent,
    events: stream.chain,
    dropped: stream.dropped,
    rejected: stream.rejected,
    previous: stream.previous,
    at: now,
  };
  Object.assign(stream, { from: stream.next, chain: zeroHash, sent: 0, dropped: [], rejected: [], made: plan.n, lastMadeAt: now, unsent: plan });
  return plan;
}

/** The destination has the checkpoint: the next one names `hash` (its text's SHA-256) as previous. */
export function checkpointSent(stream: StreamState, hash: string): void {
  stream.previous = hash;
  stream.unsent = undefined;
}
