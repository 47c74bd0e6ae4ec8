// The I/O of a destination workflow. `deliver` reads what is buffered for the destination,
// in seq order, decrypts its credentials and sends through its provider; `record` mirrors the
// workflow's state into MongoDB and releases the batches it has settled; `recover` rebuilds
// a workflow's state from MongoDB. The workflow only ever sees seq ranges, counts and reasons.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DeliveryConfig } from '../src/config.js';
import { serviceActor, statusChangeEvent, type ServiceEvents } from '../src/audit/self-audit.js';
import type { AuditLog } from '../src/store/audit-log.js';
import type { BackfillStore } from '../src/store/backfills.js';
import { log } from '../src/log.js';
import { deliveryLag, eventCounters } from '../src/metrics.js';
import type { DeliveryCounters } from '../src/model.js';
import type { AuditEvent } from '../src/model.js';
import { DeliveryFailure, deliverEvents, type DeliveryReport } from '../src/providers/deliver.js';
import type { HttpClient } from '../src/providers/http.js';
import { providerFor } from '../src/providers/index.js';
import { deliveryDocOf, type DestinationStore } from '../src/store/destinations.js';
import type { BufferedBatch, EventStore } from '../src/store/events.js';
import type { Collections } from '../src/store/mongo.js';
import { deliveryFailedType, destinationGoneType, misconfiguredType } from '../workflows/messages.js';
import { addPending, mergeIntervals, type Interval, type PendingRange } from '../workflows/ranges.js';
import {
  initialState,
  probeEvents,
  type DeliveryPolicy,
  type DeliveryProgress,
  type DestinationSnapshot,
  type DestinationState,
  type PartialBatch,
  type ReplayProgress,
  type StatusChange,
  replayEventsPerDelivery,
} from '../workflows/state.js';

/** The workflow's state as mirrored into MongoDB, and the status changes the tenant's audit log has yet to get. */
export type StateRecord = DestinationSnapshot & { failingSince?: number; partial?: PartialBatch; statusChanges?: StatusChange[] };

export interface RecordInput {
  destinationId: string;
  tenantId: string;
  /** For metrics' labels (absent in runs started before it was passed). */
  provider?: string;
  record: StateRecord;
  /** Seq intervals whose batches the workflow has settled, or all of the destination's (it is deleted). */
  release: Interval[] | 'all';
}

export interface DeliverInput extends RecordInput {
  /** A delivery records the workflow's state and releases what it settled before reading: never all. */
  release: Interval[];
  /** The oldest pending ranges, as the workflow counts them: checked against the buffer. */
  expect: PendingRange[];
  /** While failing: send at most a few events. */
  probe: boolean;
  partial?: PartialBatch;
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
  events: EventStore;
  http: HttpClient;
  delivery: DeliveryConfig;
  serviceEvents: ServiceEvents;
  /** Where a backfill reads the events it replays, and keeps its progress. */
  auditLog: AuditLog;
  backfills: BackfillStore;
  /** Pending batches older than this are gone from the buffer by design (its retention). */
  bufferRetentionMs: number;
}

export interface ReplayInput extends RecordInput {
  release: Interval[];
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

/**
 * Most batches one delivery reads: with many small batches (a quiet tenant's events arrive
 * one by one) a delivery stays short, heartbeats, and shows progress.
 */
const maxBatchesPerDelivery = 200;

interface Portion {
  batch: BufferedBatch;
  events: AuditEvent[];
  seqs: number[];
  /** True when this portion ends the batch. */
  last: boolean;
}

export function policyOf(delivery: DeliveryConfig): DeliveryPolicy {
  return {
    retryWindowMs: delivery.retryWindowMs,
    initialBackoffMs: delivery.initialBackoffMs,
    maxBackoffMs: delivery.maxBackoffMs,
    maxEventsPerDelivery: delivery.maxEventsPerActivity,
  };
}

export function createDeliveryActivities({ collections, destinations, events, http, delivery, serviceEvents, auditLog, backfills, bufferRetentionMs }: ActivityDependencies) {
  /**
   * The counts each destination last recorded in this process: the metrics count what grew
   * since. The first record after a start is the baseline (Prometheus counters start at zero
   * with their process).
   */
  const lastCounts = new Map<string, DeliveryCounters>();
  function countRecorded(input: RecordInput): void {
    const { delivered, dropped, rejected } = input.record;
    const before = lastCounts.get(input.destinationId);
    if (input.release === 'all') lastCounts.delete(input.destinationId);
    else lastCounts.set(input.destinationId, { delivered, dropped, rejected });
    if (!before || !input.provider) return;
    for (const [what, now] of Object.entries({ delivered, dropped, rejected }) as [keyof DeliveryCounters, number][]) {
      if (now > before[what]) eventCounters[what].inc({ provider: input.provider }, now - before[what]);
    }
  }

  /**
   * Mirrors the workflow's state, then releases the batches it settled. The workflow sends a
   * release only for settlements it has recorded, so a batch never leaves the buffer before
   * that; the mirror is written first and names what is being released, so a workflow
   * recovering from MongoDB after a crash between the two finishes the release.
   */
  async function recordState(input: RecordInput): Promise<void> {
    // Status changes into the tenant's audit log first: a crash before the mirror writes them again, as the same events.
    for (const change of input.record.statusChanges ?? []) {
      await serviceEvents.record(input.tenantId, statusChangeEvent(input.destinationId, input.provider, change), new Date(change.at));
    }
    await destinations.recordDelivery(input.destinationId, deliveryDocOf(input.record, input.release === 'all' ? [] : input.release));
    countRecorded(input);
    await events.release(input.tenantId, input.destinationId, input.release);
  }

  /**
   * The next events to send: the destination's buffered batches in seq order, from where the
   * last delivery stopped, up to the budget. Also what the workflow expects but the buffer
   * no longer holds (checked only for ranges the read fully covers).
   */
  async function readPlan(input: DeliverInput): Promise<{ portions: Portion[]; missing: DeliveryProgress['missing'] }> {
    const budget = input.probe ? Math.min(probeEvents, delivery.maxEventsPerActivity) : delivery.maxEventsPerActivity;
    const batches = await events.readPending(input.tenantId, input.destinationId, maxBatchesPerDelivery);
    const resumeAt = (batch: BufferedBatch) => (input.partial?.firstSeq === batch.firstSeq ? input.partial.from : batch.firstSeq);
    const portions: Portion[] = [];
    let total = 0;
    for (const batch of batches) {
      if (total >= budget) break;
      const decoded = await batch.decode();
      const from = resumeAt(batch);
      const start = decoded.seqs.findIndex((seq) => seq >= from);
      if (start === -1) continue;
      const take = Math.min(budget - total, decoded.seqs.length - start);
      portions.push({ batch, events: decoded.events.slice(start, start + take), seqs: decoded.seqs.slice(start, start + take), last: start + take === decoded.seqs.length });
      total += take;
    }
    // Every buffered batch of the destination up to `covered` was read (all of them when fewer than the limit came back).
    const covered = batches.length < maxBatchesPerDelivery ? Infinity : batches[batches.length - 1].lastSeq;
    const partialBatch = batches.find((batch) => batch.firstSeq === input.partial?.firstSeq);
    const alreadySent = partialBatch ? (await partialBatch.decode()).seqs.filter((seq) => seq < input.partial!.from).length : 0;
    const missing: DeliveryProgress['missing'] = [];
    for (const range of input.expect) {
      if (range.hi > covered) break;
      const present = batches
        .filter((batch) => batch.firstSeq <= range.hi && batch.lastSeq >= range.lo)
        .reduce((sum, batch) => sum + batch.count - (batch === partialBatch ? alreadySent : 0), 0);
      const count = range.count - present;
      if (count <= 0) continue;
      // A young batch is gone only once every destination released it: this one settled it earlier (a
      // repeated announcement). One older than the buffer's retention was removed unsent: dropped.
      const lost = Date.now() - range.at >= bufferRetentionMs;
      if (lost) log.warn('buffered events outlived the buffer before delivery; counted as dropped', { destinationId: input.destinationId, lo: range.lo, hi: range.hi, count });
      missing.push({ lo: range.lo, count, lost });
    }
    return { portions, missing };
  }

  /** Progress of the first `confirmed` planned events. */
  function progressOf(input: DeliverInput, portions: Portion[], missing: DeliveryProgress['missing'], confirmed: number, report: DeliveryReport): DeliveryProgress {
    const progress: DeliveryProgress = { settled: [], delivered: 0, rejected: 0, missing, releasable: [], policy: policyOf(delivery) };
    const rejectedIds = new Set(report.rejected.map((rejection) => rejection.eventId));
    let position = 0;
    let partial = input.partial;
    for (const portion of portions) {
      const done = Math.min(portion.events.length, confirmed - position);
      if (done <= 0) break;
      position += done;
      const whole = done === portion.events.length && portion.last;
      const hi = whole ? portion.batch.lastSeq : portion.seqs[done - 1];
      progress.settled.push({ lo: portion.seqs[0], hi, count: done });
      const rejected = portion.events.slice(0, done).filter((event) => rejectedIds.has(event.id)).length;
      progress.rejected += rejected;
      progress.delivered += done - rejected;
      if (whole) {
        progress.releasable.push([portion.batch.firstSeq, portion.batch.lastSeq]);
        if (partial?.firstSeq === portion.batch.firstSeq) partial = undefined;
      } else {
        partial = { firstSeq: portion.batch.firstSeq, from: portion.seqs[done - 1] + 1 };
      }
    }
    progress.releasable = mergeIntervals(progress.releasable);
    if (partial) progress.partial = partial;
    if (report.note) progress.note = report.note;
    return progress;
  }

  async function recordRejections(input: { destinationId: string; tenantId: string }, report: DeliveryReport): Promise<void> {
    if (report.rejected.length === 0) return;
    const at = new Date();
    await collections.rejections
      .insertMany(
        report.rejected.map(({ eventId, reason }) => ({
          _id: `${input.destinationId}:${eventId}`,
          tenantId: input.tenantId,
          destinationId: input.destinationId,
          eventId,
          reason,
          at,
        })),
        { ordered: false },
      )
      .catch(() => undefined); // a rejection recorded by an earlier attempt stays as it was
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

  return {
    /**
     * One delivery of a backfill: the next events of its range, read from the audit log (not
     * the buffer), marked as replays, through the same provider path as live events. Events
     * about this destination itself are skipped, as they are live.
     */
    async replay(input: ReplayInput): Promise<ReplayProgress> {
      const target = await destinations.loadTarget(input.destinationId);
      if (!target) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      const job = await backfills.byId(input.backfillId);
      if (!job || job.state !== 'running') return { nextSeq: input.lastSeq + 1, delivered: 0, rejected: 0 }; // ended meanwhile
      const context = Context.current();
      let confirmed = 0;
      const heartbeat = setInterval(() => context.heartbeat({ confirmed }), 1_000);
      try {
        await recordState(input);
        const budget = input.probe ? probeEvents : replayEventsPerDelivery;
        const read = await auditLog.read(input.tenantId, job.filter, { from: input.fromSeq, to: input.lastSeq }, budget);
        // Read to the end of the range unless the budget stopped it.
        const readThrough = read.length < budget ? input.lastSeq : read[read.length - 1].seq;
        const events = read.filter((event) => !aboutItself(event, input.destinationId)).map((event) => ({ ...event, replayOf: job._id }));
        const nextAfter = (count: number) => (count >= events.length ? readThrough + 1 : events[count].seq);
        const sendContext = { http, now: () => new Date(), signal: context.cancellationSignal };
        try {
          const report = await deliverEvents(providerFor(target.provider), target, events, sendContext, (count) => (confirmed = count));
          await recordRejections(input, report);
          const progress = { nextSeq: nextAfter(report.confirmed), delivered: report.delivered, rejected: report.rejected.length };
          await backfills.progressed(job._id, progress);
          return progress;
        } catch (error) {
          if (!(error instanceof DeliveryFailure)) throw error;
          await recordRejections(input, error.report);
          const progress = { nextSeq: nextAfter(error.confirmed), delivered: error.report.delivered, rejected: error.report.rejected.length };
          await backfills.progressed(job._id, progress);
          if (context.cancellationSignal.aborted) return progress;
          throw failureOf(error, { replay: progress });
        }
      } finally {
        clearInterval(heartbeat);
      }
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

    async deliver(input: DeliverInput): Promise<DeliveryProgress> {
      const target = await destinations.loadTarget(input.destinationId);
      if (!target) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      const provider = providerFor(target.provider);
      const context = Context.current();
      // Heartbeats go on while batches are read and requests are in flight, so a dead worker
      // is noticed within the heartbeat timeout whatever the store's or destination's pace;
      // they also bring a cancellation (a delete), which stops sending at once.
      let confirmed = 0;
      const heartbeat = setInterval(() => context.heartbeat({ confirmed }), 1_000);
      try {
        await recordState(input);
        const { portions, missing } = await readPlan(input);
        const all = portions.flatMap((portion) => portion.events);
        const sendContext = { http, now: () => new Date(), signal: context.cancellationSignal };
        try {
          const report = await deliverEvents(provider, target, all, sendContext, (count) => {
            confirmed = count;
            context.heartbeat({ confirmed });
          });
          await recordRejections(input, report);
          observeLag(target.provider, all.slice(0, report.confirmed), report);
          return progressOf(input, portions, missing, report.confirmed, report);
        } catch (error) {
          if (!(error instanceof DeliveryFailure)) throw error;
          const progress = progressOf(input, portions, missing, error.confirmed, error.report);
          await recordRejections(input, error.report);
          observeLag(target.provider, all.slice(0, error.confirmed), error.report);
          // Cancelled (a delete): what got through is the answer, not a failure of the destination.
          if (context.cancellationSignal.aborted) return progress;
          throw failureOf(error, { progress });
        }
      } finally {
        clearInterval(heartbeat);
      }
    },

    async record(input: RecordInput): Promise<{ policy: DeliveryPolicy }> {
      await recordState(input);
      return { policy: policyOf(delivery) };
    },

    /**
     * A workflow starting afresh (a new destination, or one whose workflow was lost) takes its
     * state from MongoDB: its recorded counters and status, and as backlog what is buffered for it.
     */
    async recover(input: RecoverInput): Promise<{ state: DestinationState }> {
      const doc = await destinations.byId(input.destinationId);
      if (!doc) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      const recorded = doc.delivery;
      if (recorded && recorded.releasing.length > 0) {
        await events.release(input.tenantId, input.destinationId, recorded.releasing.map(({ lo, hi }): Interval => [lo, hi]));
      }
      const state = initialState(doc.enabled, policyOf(delivery));
      if (recorded) {
        Object.assign(state, {
          status: recorded.status,
          statusReason: recorded.statusReason,
          counts: { ...recorded.counters },
          failingSince: recorded.failingSince?.getTime(),
          lastDeliveredAt: recorded.lastDeliveredAt?.getTime(),
          lastErrorAt: recorded.lastErrorAt?.getTime(),
          failures: recorded.status === 'degraded' ? 1 : 0,
          partial: recorded.partial,
        });
      }
      for (const batch of await events.pendingSummary(input.tenantId, input.destinationId)) {
        const partial = batch.firstSeq === recorded?.partial?.firstSeq ? recorded.partial : undefined;
        const sent = partial ? await events.countBefore(batch._id, partial.from) : 0;
        addPending(state.pending, state.settled, { lo: partial?.from ?? batch.firstSeq, hi: batch.lastSeq, count: batch.count - sent, at: batch.createdAt.getTime() });
      }
      // A backfill that was running goes on from where its job says it got to.
      const backfill = await backfills.running(input.tenantId, input.destinationId);
      if (backfill) state.replay = { id: backfill._id, nextSeq: backfill.nextSeq, lastSeq: backfill.lastSeq };
      log.info('destination workflow recovered its state', { destinationId: input.destinationId, backlog: state.pending.length });
      return { state };
    },
  };
}

/** Publish-to-confirmation time of the events a destination took (not those it rejected). */
function observeLag(provider: string, confirmed: AuditEvent[], report: DeliveryReport): void {
  const rejected = new Set(report.rejected.map((rejection) => rejection.eventId));
  const now = Date.now();
  for (const event of confirmed) if (!rejected.has(event.id)) deliveryLag.observe({ provider }, (now - event.receivedAt.getTime()) / 1000);
}

/** The service's own event about this destination: never sent to it, live or replayed. */
function aboutItself(event: AuditEvent, destinationId: string): boolean {
  return event.id.startsWith('auditstream-') && event.resource?.type === 'siem_destination' && event.resource.id === destinationId;
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
