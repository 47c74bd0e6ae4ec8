// The I/O of a destination workflow: read buffered batches from MongoDB, decrypt the
// destination's credentials, send through its provider, record the outcome. The workflow
// only ever sees seq ranges, counts and reasons.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { errorMessage, log } from '../src/log.js';
import type { DestinationStatus } from '../src/model.js';
import { DeliveryFailure, deliverEvents, type DeliveryReport, type Rejection } from '../src/providers/deliver.js';
import type { HttpClient } from '../src/providers/http.js';
import { providerFor } from '../src/providers/index.js';
import type { DestinationStore } from '../src/store/destinations.js';
import { batchId, type EventStore } from '../src/store/events.js';
import type { Collections } from '../src/store/mongo.js';
import type { AuditEvent } from '../src/model.js';
import { deliveryFailedType, destinationGoneType, misconfiguredType } from '../workflows/messages.js';
import type { PendingRange } from '../workflows/ranges.js';

export interface DeliverInput {
  destinationId: string;
  tenantId: string;
  ranges: PendingRange[];
  maxEvents: number;
}

/** Seq ranges whose events are settled (delivered or rejected), in order. */
export interface SettledRange {
  lo: number;
  hi: number;
  count: number;
}

export interface DeliveryProgress {
  settled: SettledRange[];
  delivered: number;
  rejected: number;
  /** Events announced but no longer in the buffer (counted as dropped). */
  lost: number;
  /** What the destination's answers say the user should know, shown as the status reason. */
  note?: string;
}

/** Attached to a failed delivery: what got through before it failed, and when to retry. */
export interface DeliveryFailureDetails extends DeliveryProgress {
  retryAfterMs?: number;
}

export interface StatusInput {
  destinationId: string;
  status: DestinationStatus;
  statusReason: string;
  backlogEvents: number;
  oldestEventAt?: number;
  windowEndsAt?: number;
  dropped: number;
  lastErrorAt?: number;
}

export interface ActivityDependencies {
  collections: Collections;
  destinations: DestinationStore;
  events: EventStore;
  http: HttpClient;
  /** A batch younger than this that is missing from the buffer is read again (see `readPlan`). */
  bufferRetentionMs: number;
}

interface PlannedBatch extends SettledRange {
  events: AuditEvent[];
}

/**
 * Most batches one delivery reads: with many small batches (a quiet tenant's events arrive
 * one by one) a delivery stays short, heartbeats, and shows progress, instead of reading
 * thousands of documents before sending anything.
 */
const maxBatchesPerDelivery = 200;

/**
 * Attempts of a delivery that re-read a batch missing from the buffer before counting it
 * as lost (see `readPlan`): enough to ride out a store that answered wrongly for a moment,
 * few enough that a destination never stalls on a batch that is gone.
 */
const missingBatchAttempts = 3;

export function createDeliveryActivities({ collections, destinations, events, http, bufferRetentionMs }: ActivityDependencies) {
  async function readPlan(input: DeliverInput, attempt: number): Promise<PlannedBatch[]> {
    const plan: PlannedBatch[] = [];
    let total = 0;
    const full = () => plan.length >= maxBatchesPerDelivery || (total >= input.maxEvents && plan.length > 0);
    for (const range of input.ranges) {
      if (full()) break;
      // Seqs are consecutive per tenant, so the batches starting within the next `budget`
      // seqs hold at most `budget` events (plus the tail of the last one).
      const budget = Math.max(1, input.maxEvents - total);
      const upTo = Math.min(range.hi, range.lo + budget - 1);
      const limit = maxBatchesPerDelivery - plan.length;
      const batches = await events.readBatches(input.tenantId, range.lo, upTo, limit);
      let next = range.lo;
      let readInRange = 0;
      for (const batch of batches) {
        if (batch.firstSeq !== next || full()) break;
        plan.push({ lo: batch.firstSeq, hi: batch.lastSeq, count: batch.count, events: batch.events });
        readInRange += batch.count;
        total += batch.count;
        next = batch.lastSeq + 1;
      }
      if (next > range.hi) continue;
      if (next > upTo || full()) break; // the rest waits for the next delivery, keeping seq order
      // The batch that should start at `next` is not in the buffer. Past the retention it was
      // removed. Younger, either the store answered wrongly for a moment (a restart), or an
      // earlier attempt of this delivery sent and released it and died before reporting. The
      // first attempts fail, so the read is retried; after them the rest of the range is
      // counted as lost and the stream goes on.
      if (Date.now() - range.at < bufferRetentionMs && attempt < missingBatchAttempts) {
        throw new Error(`buffered batch at seq ${next} of ${input.tenantId} was not found; retrying the read`);
      }
      const missing = Math.max(0, range.count - readInRange);
      log.error('announced events are missing from the buffer; counted as dropped (an earlier attempt may have delivered them)', {
        destinationId: input.destinationId,
        lo: next,
        hi: range.hi,
        missing,
        attempt,
      });
      plan.push({ lo: next, hi: range.hi, count: missing, events: [] });
    }
    return plan;
  }

  /** The batches fully inside the first `confirmed` events, with the rejections among them. */
  function progressOf(plan: PlannedBatch[], confirmed: number, report: DeliveryReport) {
    const settled: SettledRange[] = [];
    const eventIds = new Set<string>();
    let position = 0;
    for (const batch of plan) {
      if (position + batch.events.length > confirmed) break;
      position += batch.events.length;
      settled.push({ lo: batch.lo, hi: batch.hi, count: batch.count });
      batch.events.forEach((event) => eventIds.add(event.id));
    }
    const rejections = report.rejected.filter((rejection) => eventIds.has(rejection.eventId));
    const delivered = eventIds.size - rejections.length;
    const lost = settled.reduce((sum, range, index) => sum + (plan[index].events.length === 0 ? range.count : 0), 0);
    const progress: DeliveryProgress = { settled, delivered, rejected: rejections.length, lost };
    if (report.note) progress.note = report.note;
    return { progress, rejections };
  }

  async function record(input: DeliverInput, progress: DeliveryProgress, rejections: Rejection[]) {
    if (rejections.length > 0) {
      const at = new Date();
      await collections.rejections
        .insertMany(
          rejections.map(({ eventId, reason }) => ({
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
    if (progress.delivered > 0 || progress.rejected > 0) {
      await destinations.recordDeliveries(input.destinationId, progress.delivered, progress.rejected, new Date());
    }
    const released = progress.settled.filter((range) => range.count > 0).map((range) => batchId(input.tenantId, range.lo));
    // A batch left behind by a failed release is removed by the periodic clean-up.
    await events.releaseBatches(input.tenantId, released, input.destinationId).catch((error) =>
      log.warn('could not release delivered batches', { destinationId: input.destinationId, error: errorMessage(error) }),
    );
  }

  return {
    async deliver(input: DeliverInput): Promise<DeliveryProgress> {
      const target = await destinations.loadTarget(input.destinationId);
      if (!target) throw ApplicationFailure.nonRetryable('the destination no longer exists', destinationGoneType);
      const provider = providerFor(target.provider);
      const context = Context.current();
      // Heartbeats go on while batches are read and requests are in flight, so a dead worker
      // is noticed within the heartbeat timeout whatever the store's or destination's pace.
      let confirmed = 0;
      const heartbeat = setInterval(() => context.heartbeat({ confirmed }), 2_000);
      try {
        const plan = await readPlan(input, context.info.attempt);
        const all = plan.flatMap((batch) => batch.events);
        try {
          const report = await deliverEvents(provider, target, all, { http, now: () => new Date() }, (count) => {
            confirmed = count;
            context.heartbeat({ confirmed });
          });
          const { progress, rejections } = progressOf(plan, all.length, report);
          await record(input, progress, rejections);
          return progress;
        } catch (error) {
          if (!(error instanceof DeliveryFailure)) throw error;
          const { progress, rejections } = progressOf(plan, error.confirmed, error.report);
          await record(input, progress, rejections).catch((recordError) =>
            log.warn('could not record delivery progress', { destinationId: input.destinationId, error: errorMessage(recordError) }),
          );
          const details: DeliveryFailureDetails = { ...progress, retryAfterMs: error.retryAfterMs };
          throw ApplicationFailure.create({
            type: error.failureClass === 'config' ? misconfiguredType : deliveryFailedType,
            message: error.message,
            nonRetryable: true,
            details: [details],
          });
        }
      } finally {
        clearInterval(heartbeat);
      }
    },

    async recordStatus(input: StatusInput): Promise<void> {
      await destinations.recordStatus(input.destinationId, {
        status: input.status,
        statusReason: input.statusReason,
        backlog: {
          events: input.backlogEvents,
          oldestEventAt: input.oldestEventAt === undefined ? undefined : new Date(input.oldestEventAt),
          windowEndsAt: input.windowEndsAt === undefined ? undefined : new Date(input.windowEndsAt),
        },
        dropped: input.dropped,
        lastErrorAt: input.lastErrorAt === undefined ? undefined : new Date(input.lastErrorAt),
      });
    },
  };
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
