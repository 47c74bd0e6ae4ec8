// The I/O of a destination workflow. `deliver` mirrors the workflow's state, then reads the
// events its pending ranges name from the audit log (by chunk: src/store/audit-log.ts),
// decrypts the destination's credentials and sends through its provider; `replay` does the
// same for a backfill's next events; `record` mirrors the state; `recover` rebuilds a lost
// workflow's state from its mirror and the log. The workflow only ever sees seq ranges,
// counts and reasons.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeliveryConfig } from '../src/config.js';
import { isAboutDestination, serviceActor, statusChangeEvent, type ServiceEvents } from '../src/audit/self-audit.js';
import { subscriptionMatcher } from '../src/subscription/filter.js';
import type { TenantMasking } from '../src/subscription/masking.js';
import { receivedBy, type AuditLog, type Chunk, type SeqEvent } from '../src/store/audit-log.js';
import type { BackfillStore } from '../src/store/backfills.js';
import { log } from '../src/log.js';
import { deliveryLag, eventCounters } from '../src/metrics.js';
import type { AuditEvent, DeliveryCounters } from '../src/model.js';
import { DeliveryFailure, deliverWithFallback, type DeliveryReport } from '../src/providers/deliver.js';
import type { HttpClient } from '../src/providers/http.js';
import { deliveryStateDocOf, stateOfMirror, type DestinationStore } from '../src/store/destinations.js';
import { insertNew, type Collections } from '../src/store/mongo.js';
import { chainNext, checkpointBodyOf, checkpointEvent, checkpointHash, checkpointText } from '../src/completeness/checkpoint.js';
import type { SigningKeys } from '../src/completeness/keys.js';
import { signNote } from '../src/completeness/note.js';
import { addRange, type CheckpointPlan, type SequenceRange, type StreamProgress, type StreamState } from '../src/completeness/stream.js';
import type { CheckpointStore } from '../src/store/checkpoints.js';
import { deliveryFailedType, destinationGoneType, misconfiguredType } from '../workflows/messages.js';
import { addPending, type PendingRange } from '../workflows/ranges.js';
import {
  initialState,
  probeEvents,
  type DeliveryPolicy,
  type DeliveryProgress,
  type DestinationState,
  type ReplayProgress,
  type SettledPortion,
  type StateRecord,
  replayEventsPerDelivery,
} from '../workflows/state.js';

export interface RecordInput {
  destinationId: string;
  tenantId: string;
  /** For metrics' labels. */
  provider?: string;
  record: StateRecord;
  /** The last record of a deleted destination's workflow. */
  final?: boolean;
}

export interface DeliverInput extends RecordInput {
  /** The oldest pending ranges, as the workflow counts them: what to read and send. */
  expect: PendingRange[];
  /** While failing: send at most a few events. */
  probe: boolean;
  /** The destination's next sequence number and its chain so far: the events sent are numbered and chained from here. */
  stream: Pick<StreamState, 'next' | 'chain'>;
}

/** Attached to a failed delivery: what got through before it failed, and how to go on. */
export interface DeliveryFailureDetails {
  progress?: DeliveryProgress;
  /** A backfill delivery's part that got through. */
  replay?: ReplayProgress;
  retryAfterMs?: number;
  awaitUpdate?: boolean;
}

export interface RecoverInput {
  destinationId: string;
  tenantId: string;
}

export interface ActivityDependencies {
  collections: Collections;
  destinations: DestinationStore;
  http: HttpClient;
  delivery: DeliveryConfig;
  serviceEvents: ServiceEvents;
  /** Where deliveries and backfills read the events they send. */
  auditLog: AuditLog;
  backfills: BackfillStore;
  /** Masks what each destination's rules say, before its provider encodes anything. */
  masking: TenantMasking;
  /** Signs checkpoints (the private keys stay in this process: never in an activity's input or result). */
  signingKeys: SigningKeys;
  checkpoints: CheckpointStore;
}

export interface CheckpointInput extends RecordInput {
  plan: CheckpointPlan;
}

export interface ReplayInput extends RecordInput {
  backfillId: string;
  fromSeq: number;
  lastSeq: number;
  /** While failing: send at most a few events. */
  probe: boolean;
}

export interface FinishBackfillInput {
  tenantId: string;
  destinationId: string;
  backfillId: string;
  state: 'done' | 'cancelled' | 'failed';
  reason?: string;
}

/** The part of one chunk a delivery sends: seqs `lo`..`hi` of it, whose rest goes on in chunk `next`. */
interface Portion {
  chunk: number;
  lo: number;
  hi: number;
  next: number;
  events: SeqEvent[];
}

export function policyOf(delivery: DeliveryConfig): DeliveryPolicy {
  return {
    retryWindowMs: delivery.retryWindowMs,
    initialBackoffMs: delivery.initialBackoffMs,
    maxBackoffMs: delivery.maxBackoffMs,
    maxEventsPerDelivery: delivery.maxEventsPerActivity,
    checkpointIntervalMs: delivery.checkpointIntervalMs,
    checkpointIdleMs: delivery.checkpointIdleMs,
  };
}

export function createDeliveryActivities({ collections, destinations, http, delivery, serviceEvents, auditLog, backfills, masking, signingKeys, checkpoints }: ActivityDependencies) {
  /**
   * The counts each destination last recorded in this process: the metrics count what grew
   * since. The first record after a start is the baseline (Prometheus counters start at zero
   * with their process).
   */
  const lastCounts = new Map<string, DeliveryCounters>();
  function countRecorded(input: RecordInput): void {
    const { delivered, dropped, rejected } = input.record;
    const before = lastCounts.get(input.destinationId);
    if (input.final) lastCounts.delete(input.destinationId);
    else lastCounts.set(input.destinationId, { delivered, dropped, rejected });
    if (!before || !input.provider) return;
    for (const [what, now] of Object.entries({ delivered, dropped, rejected }) as [keyof DeliveryCounters, number][]) {
      if (now > before[what]) eventCounters[what].inc({ provider: input.provider }, now - before[what]);
    }
  }

  /** Mirrors the workflow's state: its status changes into the tenant's audit log first, then its mirror document. */
  async function recordState(input: RecordInput): Promise<void> {
    // A crash between the two writes the status changes again, as the same events.
    for (const change of input.record.statusChanges) {
      await serviceEvents.record(input.tenantId, statusChangeEvent(input.destinationId, input.provider, change), new Date(change.at));
    }
    await destinations.recordDelivery(deliveryStateDocOf(input.destinationId, input.tenantId, input.record));
    countRecorded(input);
  }

  /**
   * The next events to send: those of the expected ranges, read chunk by chunk in seq order
   * from where each range resumes, up to the budget. A range whose first chunk the log no
   * longer holds was taken by retention (it keeps what a destination may still want for the
   * buffer's whole window, so this is a destination disabled for longer): its events are
   * missing, counted as dropped. Later chunks of a range go only after earlier ones, so no
   * other chunk of a range can be missing with events the range counts.
   */
  async function readPlan(input: DeliverInput): Promise<{ portions: Portion[]; missing: DeliveryProgress['missing'] }> {
    const budget = input.probe ? Math.min(probeEvents, delivery.maxEventsPerActivity) : delivery.maxEventsPerActivity;
    const portions: Portion[] = [];
    const missing: DeliveryProgress['missing'] = [];
    let total = 0;
    for (const range of input.expect) {
      if (total >= budget) break;
      // As many chunks at a time as the budget left may need, judged by the range's events per chunk.
      const perChunk = Math.max(1, range.count / (range.lastChunk - range.firstChunk + 1));
      for (let n = range.firstChunk; n <= range.lastChunk && total < budget; ) {
        const wanted = Math.min(64, Math.ceil((budget - total) / perChunk), range.lastChunk - n + 1);
        const numbers = Array.from({ length: wanted }, (_, i) => n + i);
        const chunks = await auditLog.chunks(input.tenantId, numbers);
        if (n === range.firstChunk && !chunks[0]) {
          log.warn('events outlived the audit log before they could be sent; counted as dropped', { destinationId: input.destinationId, lo: range.lo, count: range.count });
          missing.push({ lo: range.lo, count: range.count });
          break;
        }
        for (const chunk of chunks) {
          if (!chunk || total >= budget) continue;
          const portion = portionOf(chunk, range, budget - total, input.destinationId);
          portions.push(portion);
          total += portion.events.length;
        }
        n += numbers.length;
      }
    }
    return { portions, missing };
  }

  /** Progress of the first `confirmed` planned events. */
  function progressOf(portions: Portion[], missing: DeliveryProgress['missing'], confirmed: number, report: DeliveryReport, stream: StreamProgress): DeliveryProgress {
    const progress: DeliveryProgress = { settled: [], delivered: 0, rejected: 0, missing, policy: policyOf(delivery), stream };
    const rejectedIds = new Set(report.rejected.map((rejection) => rejection.eventId));
    let position = 0;
    for (const portion of portions) {
      const done = Math.min(portion.events.length, confirmed - position);
      if (done <= 0 && portion.events.length > 0) break;
      position += done;
      const whole = done === portion.events.length;
      const settled: SettledPortion = whole
        ? { lo: portion.lo, hi: portion.hi, count: done, next: portion.next }
        : { lo: portion.lo, hi: portion.events[done - 1].seq, count: done, next: portion.chunk };
      progress.settled.push(settled);
      const rejected = portion.events.slice(0, done).filter((event) => rejectedIds.has(event.id)).length;
      progress.rejected += rejected;
      progress.delivered += done - rejected;
      if (!whole) break;
    }
    if (report.note) progress.note = report.note;
    return progress;
  }

  /**
   * Keeps each rejected event's reason before the rejection is counted: a rejection an earlier
   * attempt recorded stays as it was, and any other failure fails the attempt (the batch is
   * sent again) rather than raising the counter without the record behind it.
   */
  async function recordRejections(input: { destinationId: string; tenantId: string }, report: DeliveryReport): Promise<void> {
    const at = new Date();
    await insertNew(
      collections.rejections,
      report.rejected.map(({ eventId, reason }) => ({ _id: `${input.destinationId}:${eventId}`, tenantId: input.tenantId, destinationId: input.destinationId, eventId, reason, at })),
    );
  }

  /** A destination failure as the workflow reads it: its class, the reason, and what got through. */
  function failureOf(error: DeliveryFailure, details: DeliveryFailureDetails): ApplicationFailure {
    return ApplicationFailure.create({
      type: error.failureClass === 'retry' ? deliveryFailedType : misconfiguredType,
      message: error.message,
      nonRetryable: true,
      details: [{ ...details, retryAfterMs: error.retryAfterMs, awaitUpdate: error.failureClass === 'hold' }],
    });
  }

  /**
   * Sends what `read` planned to the destination, heartbeating throughout (a dead worker is
   * noticed within the heartbeat timeout whatever the store's or destination's pace, and a
   * cancellation — a delete — stops sending at once). Answers the progress of what the
   * destination confirmed; a failure of the destination is thrown as the workflow reads it,
   * with that progress attached under `detail`.
   */
  async function sendPlanned<T>(
    input: RecordInput,
    read: () => Promise<AuditEvent[]>,
    progressOf: (confirmed: number, report: DeliveryReport) => Promise<T> | T,
    detail: keyof DeliveryFailureDetails,
  ): Promise<T> {
    const target = await destinations.loadTarget(input.destinationId);
    if (!target) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
    const context = Context.current();
    let confirmed = 0;
    const heartbeat = setInterval(() => context.heartbeat({ confirmed }), 1_000);
    try {
      await recordState(input);
      // Masked before anything is encoded: what leaves is only what the destination's rules let out.
      const events = (await read()).map(masking.masker(target.tenantId, target.masking));
      const sendContext = { http, now: () => new Date(), signal: context.cancellationSignal };
      try {
        const report = await deliverWithFallback(target, events, sendContext, (count) => {
          confirmed = count;
          context.heartbeat({ confirmed });
        });
        await recordRejections(input, report);
        observeLag(target.provider, events.slice(0, report.confirmed), report);
        return await progressOf(report.confirmed, report);
      } catch (error) {
        if (!(error instanceof DeliveryFailure)) throw error;
        await recordRejections(input, error.report);
        observeLag(target.provider, events.slice(0, error.confirmed), error.report);
        const progress = await progressOf(error.confirmed, error.report);
        // Cancelled (a delete): what got through is the answer, not a failure of the destination.
        if (context.cancellationSignal.aborted) return progress;
        throw failureOf(error, { [detail]: progress });
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  return {
    /** One live delivery: the events of the oldest pending ranges, read from the audit log. */
    async deliver(input: DeliverInput): Promise<DeliveryProgress> {
      let plan: Awaited<ReturnType<typeof readPlan>> = { portions: [], missing: [] };
      let numbered: Numbered = { events: [], firstSequence: input.stream.next, dropped: [] };
      return sendPlanned(
        input,
        async () => {
          plan = await readPlan(input);
          numbered = numberEvents(input.destinationId, input.stream.next, plan);
          return numbered.events;
        },
        (confirmed, report) => progressOf(plan.portions, plan.missing, confirmed, report, streamProgressOf(numbered, input.stream.chain, confirmed, report)),
        'progress',
      );
    },

    /**
     * One delivery of a backfill: the next events of its range, read from the audit log, marked
     * as replays, through the same provider path as live events. Only what the destination's
     * filters (when the job began) let through goes; events about this destination itself are
     * skipped, as they are live.
     */
    async replay(input: ReplayInput): Promise<ReplayProgress> {
      const job = await backfills.byId(input.backfillId);
      if (!job || job.state !== 'running') return { nextSeq: input.lastSeq + 1, delivered: 0, rejected: 0 }; // ended meanwhile
      let events: AuditEvent[] = [];
      let readThrough = input.lastSeq;
      return sendPlanned(
        input,
        async () => {
          const budget = input.probe ? probeEvents : replayEventsPerDelivery;
          const read = await auditLog.read(input.tenantId, job.filter, { from: input.fromSeq, to: input.lastSeq }, budget);
          // Read to the end of the range unless the budget stopped it.
          readThrough = read.length < budget ? input.lastSeq : read[read.length - 1].seq;
          const receives = subscriptionMatcher(job.receives);
          events = read.filter((event) => receives(event) && !isAboutDestination(event, input.destinationId)).map((event) => ({ ...event, replayOf: job._id }));
          return events;
        },
        async (confirmed, report) => {
          // Only the confirmed events count: those a failed request left unconfirmed (half of a
          // split that went through, say) are sent again from `nextSeq`, and counted then.
          const rejectedIds = new Set(report.rejected.map((rejection) => rejection.eventId));
          const rejected = events.slice(0, confirmed).filter((event) => rejectedIds.has(event.id)).length;
          const progress = { nextSeq: confirmed >= events.length ? readThrough + 1 : (events[confirmed] as SeqEvent).seq, delivered: Math.min(confirmed, events.length) - rejected, rejected };
          await backfills.progressed(job._id, input.fromSeq, progress);
          return progress;
        },
        'replay',
      );
    },

    /**
     * Signs the checkpoint the workflow made, keeps it (ListCheckpoints reads it) and sends it
     * to the destination as a record of its stream; answers its text's hash, which the next
     * checkpoint names. The state is mirrored first, so this checkpoint is the one sent again
     * after any failure. A destination that refuses the record for good still has it listed.
     */
    async checkpoint(input: CheckpointInput): Promise<{ hash: string }> {
      const target = await destinations.loadTarget(input.destinationId);
      if (!target) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      await recordState(input);
      const body = checkpointBodyOf(input.plan, input.tenantId, input.destinationId);
      const text = checkpointText(body);
      signingKeys.reload(); // a rotation signs from the next checkpoint on, in every worker
      const signer = signingKeys.current();
      const keyId = signer.keyId.toString(16).padStart(8, '0');
      const note = signNote(text, signer);
      await checkpoints.save(input.destinationId, { ...body, _id: body.n, time: new Date(body.time), keyId, note });
      const context = Context.current();
      try {
        const report = await deliverWithFallback(target, [checkpointEvent(body, note, keyId, serviceActor)], { http, now: () => new Date(), signal: context.cancellationSignal });
        if (report.rejected.length > 0) log.warn('the destination refused a checkpoint record; it stays listed', { destinationId: input.destinationId, n: body.n, reason: report.rejected[0].reason });
      } catch (error) {
        if (!(error instanceof DeliveryFailure)) throw error;
        throw failureOf(error, {});
      }
      return { hash: checkpointHash(text) };
    },

    /** How a backfill ended, into its job and the tenant's audit log. */
    async finishBackfill(input: FinishBackfillInput): Promise<void> {
      const job = await backfills.finished(input.backfillId, input.state, input.reason);
      if (!job) return;
      await serviceEvents.record(input.tenantId, {
        id: `auditstream-backfill-${input.backfillId}-${input.state}`,
        action: `siem.destination.backfill_${input.state}`,
        actor: serviceActor,
        resource: { type: 'siem_destination', id: input.destinationId },
        outcome: input.state === 'done' ? 'success' : 'failure',
        metadata: { backfillId: job._id, total: job.total, delivered: job.delivered, rejected: job.rejected, ...(input.reason ? { reason: input.reason } : {}) },
        exclude: [input.destinationId],
      });
    },

    async record(input: RecordInput): Promise<{ policy: DeliveryPolicy }> {
      await recordState(input);
      return { policy: policyOf(delivery) };
    },

    /**
     * A workflow starting afresh (a new destination, or one whose workflow was lost) takes its
     * state from its mirror — counters, status, what it owed and had settled — and, from the
     * audit log, the chunks for it that came after the newest one it had been told about (the
     * announcements its lost predecessor took but did not mirror). A new destination has no
     * mirror: nothing in the log before now is for it.
     */
    async recover(input: RecoverInput): Promise<{ state: DestinationState }> {
      const doc = await destinations.byId(input.destinationId);
      if (!doc) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      const mirror = await destinations.deliveryState(input.destinationId);
      const state = initialState(doc.enabled, policyOf(delivery));
      if (mirror) Object.assign(state, stateOfMirror(mirror));
      const { head } = await auditLog.bounds(input.tenantId);
      if (mirror) {
        // The newest chunk may still be having repeats taken out: read it once its flush is over.
        const newest = await auditLog.chunk(input.tenantId, head - 1);
        if (newest) await sleep(Math.max(0, newest.at.getTime() + auditLog.options.settleMs - Date.now()));
        const from = (mirror.knownChunk ?? -1) + 1;
        const numbers = Array.from({ length: Math.max(0, head - from) }, (_, i) => from + i);
        for (const chunk of await auditLog.chunks(input.tenantId, numbers)) {
          if (!chunk?.destinations.includes(input.destinationId)) continue;
          const count = chunk.events.filter(receivedBy(chunk, input.destinationId)).length;
          if (count === 0) continue;
          addPending(state.pending, state.settled, { lo: chunk.firstSeq, hi: chunk.lastSeq, count, at: chunk.at.getTime(), firstChunk: chunk.n, lastChunk: chunk.n });
        }
      }
      state.knownChunk = head - 1;
      // A backfill that was running goes on from where its job says it got to.
      const backfill = await backfills.running(input.tenantId, input.destinationId);
      if (backfill) state.replay = { id: backfill._id, nextSeq: backfill.nextSeq, lastSeq: backfill.lastSeq };
      log.info('destination workflow recovered its state', { destinationId: input.destinationId, backlog: state.pending.length });
      return { state };
    },
  };
}

/**
 * The part of `chunk` a delivery of `range` sends: the events the destination receives (its
 * filters when the chunk was accepted) from where the range resumes, at most `room`.
 */
function portionOf(chunk: Chunk, range: PendingRange, room: number, destinationId: string): Portion {
  const from = Math.max(range.lo, chunk.firstSeq);
  const to = Math.min(range.hi, chunk.lastSeq);
  const receives = receivedBy(chunk, destinationId);
  const events = chunk.events.filter((event) => event.seq >= from && event.seq <= to && receives(event));
  if (events.length <= room) return { chunk: chunk.n, lo: from, hi: to, next: chunk.n + 1, events };
  const taken = events.slice(0, room);
  return { chunk: chunk.n, lo: from, hi: taken[taken.length - 1].seq, next: chunk.n, events: taken };
}

/** A delivery's events with the destination's sequence numbers on them, after the numbers its missing ranges take. */
interface Numbered {
  events: AuditEvent[];
  firstSequence: number;
  dropped: SequenceRange[];
}

/**
 * Numbers what a delivery is about: first the ranges retention took (dropped, in the order
 * planned), then each event to send. A delivery sent again starts from the same number, so an
 * event keeps its number whatever the retries (a duplicate at the destination is the same record).
 */
function numberEvents(destinationId: string, next: number, plan: { portions: Portion[]; missing: DeliveryProgress['missing'] }): Numbered {
  const dropped: SequenceRange[] = [];
  for (const { count } of plan.missing) {
    addRange(dropped, next, next + count - 1);
    next += count;
  }
  const firstSequence = next;
  const events = plan.portions.flatMap((portion) => portion.events).map((event, index): AuditEvent => ({ ...event, stream: { destinationId, sequence: firstSequence + index } }));
  return { events, firstSequence, dropped };
}

/** How the sequence went on: the confirmed events chained (those the destination refused listed instead), the missing ranges dropped. */
function streamProgressOf(numbered: Numbered, chain: string, confirmed: number, report: DeliveryReport): StreamProgress {
  const refused = new Set(report.rejected.map((rejection) => rejection.eventId));
  const progress: StreamProgress = { next: numbered.firstSequence + confirmed, chain, sent: 0, dropped: numbered.dropped, rejected: [] };
  let folded: Buffer = Buffer.from(chain, 'base64');
  numbered.events.slice(0, confirmed).forEach((event, index) => {
    const sequence = numbered.firstSequence + index;
    if (refused.has(event.id)) addRange(progress.rejected, sequence, sequence);
    else {
      folded = chainNext(folded, report.digests[index]);
      progress.sent++;
    }
  });
  progress.chain = folded.toString('base64');
  return progress;
}

/** Publish-to-confirmation time of the events a destination took (not those it rejected). */
function observeLag(provider: string, confirmed: AuditEvent[], report: DeliveryReport): void {
  const rejected = new Set(report.rejected.map((rejection) => rejection.eventId));
  const now = Date.now();
  for (const event of confirmed) if (!rejected.has(event.id)) deliveryLag.observe({ provider }, (now - event.receivedAt.getTime()) / 1000);
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
