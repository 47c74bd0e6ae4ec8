// One long-lived workflow per destination: a loop over its state (./state.ts) that delivers,
// backs off, fails, and mirrors its state into MongoDB. Activities do all I/O: `deliver`
// mirrors the state, releases the batches the workflow has settled, then reads what is still
// buffered for the destination and sends it; `record` mirrors and releases when nothing is
// delivered. A batch leaves the buffer only after this workflow recorded its settlement.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeliveryActivities, DeliveryFailureDetails } from '../activities/delivery.js';
import type { DestinationStatus } from '../src/model.js';
import {
  type DeleteResult,
  type DestinationWorkflowInput,
  cancelBackfillUpdate,
  deleteUpdate,
  startBackfillUpdate,
  deliveryFailedType,
  destinationGoneType,
  eventsReadySignal,
  misconfiguredType,
  reconfigureUpdate,
  statusQuery,
} from './messages.js';
import { addPending, pendingCount, type Interval } from './ranges.js';
import { statusAttribute } from './search-attributes.js';
import {
  announce,
  deliverable,
  deliveryFailed,
  deliveryRequest,
  deliverySucceeded,
  describe,
  drop,
  exhaustWindow,
  nextDelivery,
  replayed,
  startReplay,
  tookTurn,
  statusChangesWritten,
  type StatusChange,
  initialState,
  nextWakeAt,
  probeEvents,
  reconfigure,
  snapshot,
  windowOver,
  type DeliveryFailureInfo,
  type DestinationState,
} from './state.js';

const { recover, record, finishBackfill } = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** How long past its flush deadline a delete waits for the loop before answering anyway. */
const deleteAnswerGraceMs = 3_000;

/**
 * A change of backlog or counters is mirrored once the destination has been quiet this long
 * (a delivery mirrors the state it starts from, so under load the next one does it); a
 * status change is mirrored at once.
 */
const mirrorDelayMs = 2_000;

interface Deletion {
  deadline: number;
  deliveredBefore: number;
  result?: DeleteResult;
  /** Answered before the loop finished (held up by a slow store): nothing more is sent. */
  abandoned: boolean;
}

function describeFailure(error: unknown): DeliveryFailureInfo | 'interrupted' {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof CancelledFailure) return 'interrupted';
  if (cause instanceof ApplicationFailure) {
    const known = [deliveryFailedType, misconfiguredType, destinationGoneType].includes(cause.type ?? '');
    const details = cause.details?.[0] as DeliveryFailureDetails | undefined;
    return { reason: known ? cause.message : `delivery error: ${cause.message}`, ...details, gone: cause.type === destinationGoneType };
  }
  if (cause instanceof TimeoutFailure) return { reason: 'delivery timed out before the destination answered or the worker stopped' };
  return { reason: `delivery error: ${cause instanceof Error ? cause.message : String(cause)}` };
}

export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<DeleteResult> {
  const { destinationId, tenantId } = input;
  // Until recovered from MongoDB (a fresh run), announcements collect in a blank state.
  const state: DestinationState = input.carried ?? initialState(true, { retryWindowMs: 86_400_000, initialBackoffMs: 1_000, maxBackoffMs: 300_000, maxEventsPerDelivery: 20_000 });
  let ready = input.carried !== undefined;
  /** The state changed since it was last mirrored: mirror it by this time (every run mirrors once at its start). */
  let recordDueAt: number | undefined = Date.now();
  let recordedStatus: DestinationStatus | 'deleted' | undefined;
  let deletion: Deletion | undefined;
  let gone = false;

  /**
   * Waits until `predicate` holds or workflow time reaches `until`. The timer behind it is
   * never cancelled, only left to fire (it wakes the workflow, which looks again): the
   * time-skipping test server refuses a task that cancels a timer that fired meanwhile
   * (temporalio/sdk-java#3088), and a cancel costs as much history as a fire.
   */
  const alarms = new Set<number>();
  function waitUntil(until: number, predicate: () => boolean): Promise<void> {
    if (until !== Infinity && !alarms.has(until)) {
      alarms.add(until);
      void sleep(Math.max(1, until - Date.now())).then(() => alarms.delete(until));
    }
    return condition(() => predicate() || Date.now() >= until);
  }

  function changed(): void {
    const due = state.status !== recordedStatus ? Date.now() : Date.now() + mirrorDelayMs;
    recordDueAt = Math.min(recordDueAt ?? Infinity, due);
  }

  setHandler(eventsReadySignal, ({ ranges }) => {
    if (announce(state, ranges)) changed();
  });
  setHandler(reconfigureUpdate, async ({ enabled }) => {
    await condition(() => ready);
    reconfigure(state, enabled, Date.now());
    changed();
    return snapshot(state);
  });
  setHandler(statusQuery, () => snapshot(state));
  /** How a backfill ended, for its job and the audit log; written by the loop. */
  const endedReplays: { backfillId: string; state: 'done' | 'cancelled' | 'failed'; reason?: string }[] = [];
  setHandler(startBackfillUpdate, async (replay) => {
    await condition(() => ready);
    if (state.replay) return { started: false, running: state.replay.id };
    startReplay(state, replay);
    changed();
    return { started: true };
  });
  setHandler(cancelBackfillUpdate, ({ id }) => {
    if (state.replay?.id !== id) return { cancelled: false };
    state.replay = undefined;
    endedReplays.push({ backfillId: id, state: 'cancelled', reason: 'cancelled by the API' });
    return { cancelled: true };
  });
  setHandler(deleteUpdate, async ({ flushDeadlineMs }) => {
    if (deletion === undefined) {
      deletion = { deadline: Date.now() + flushDeadlineMs, deliveredBefore: state.counts.delivered, abandoned: false };
      state.retryAt = undefined; // a delete tries to flush at once, as an update does
    }
    const current = deletion;
    await waitUntil(current.deadline + deleteAnswerGraceMs, () => current.result !== undefined);
    if (current.result === undefined) {
      // The loop is held up (the store answering slowly): answer with what is known; it sends nothing more.
      current.abandoned = true;
      current.result = { flushed: state.counts.delivered - current.deliveredBefore, dropped: pendingCount(state.pending) };
    }
    return current.result;
  });

  /** What the mirror gets: the state now. Writing it clears what was due. */
  function takeRecord() {
    const view = snapshot(state);
    setCurrentDetails(describe(view));
    if (input.searchAttributes && view.status !== recordedStatus) upsertSearchAttributes([{ key: statusAttribute, value: view.status }]);
    recordedStatus = view.status;
    recordDueAt = undefined;
    return { ...view, failingSince: state.failingSince, partial: state.partial, statusChanges: state.statusChanges ?? [] };
  }

  /** A mirror holding these status changes was written: they are in the audit log now. */
  function written(record: { statusChanges: StatusChange[] }): void {
    const last = record.statusChanges[record.statusChanges.length - 1];
    if (last) statusChangesWritten(state, last.n);
  }

  /** Mirrors the state into MongoDB and releases what was settled (all the destination's batches once deleted). */
  async function recordState(release: Interval[] | 'all' = state.unreleased): Promise<void> {
    if (release !== 'all') state.unreleased = [];
    try {
      const taken = takeRecord();
      const { policy } = await record({ destinationId, tenantId, provider: input.provider, record: taken, release });
      written(taken);
      if (JSON.stringify(policy) !== JSON.stringify(state.policy)) {
        state.policy = policy; // the window and the backoff follow the service's configuration
        changed();
      }
    } catch (error) {
      if (release !== 'all') state.unreleased.unshift(...release);
      changed();
      throw error;
    }
  }

  /** Runs an activity that stops early (and reports what it did) on a delete, or at a deadline. */
  async function interruptible<T>(run: () => Promise<T>, deadline?: number): Promise<T> {
    const scope = new CancellationScope();
    const running = scope.run(run);
    let finished = false;
    const interrupt = deadline === undefined ? () => finished || deletion !== undefined : () => finished || deletion?.abandoned === true;
    void waitUntil(deadline ?? Infinity, interrupt).then(() => {
      if (!finished) scope.cancel();
    });
    try {
      return await running;
    } finally {
      finished = true;
    }
  }

  /** One delivery: it mirrors the state and releases what was settled, then reads and sends. */
  async function deliverOnce(deadline?: number): Promise<void> {
    const request = deliveryRequest(state);
    const events = Math.min(pendingCount(request.expect), request.probe ? probeEvents : state.policy.maxEventsPerDelivery);
    const { deliver } = proxyActivities<DeliveryActivities>({
      startToCloseTimeout: '5m',
      heartbeatTimeout: '10s',
      ...(deadline === undefined ? {} : { scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now() + deleteAnswerGraceMs) }),
      // Retries here cover the worker and the store (a crash, a timeout); the destination's own
      // failures are non-retryable and come back to the loop, which backs off on a timer.
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
      // A delete interrupts a delivery and waits for what it got through (the SDK's own default
      // is TRY_CANCEL, which would report the delivery cancelled and lose its progress).
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      summary: `deliver up to ${events} events from seq ${request.expect[0].lo}`,
    });
    const release = state.unreleased;
    state.unreleased = [];
    const taken = takeRecord();
    try {
      const progress = await interruptible(() => deliver({ destinationId, tenantId, provider: input.provider, record: taken, release, ...request }), deadline);
      written(taken);
      deliverySucceeded(state, progress, Date.now());
      tookTurn(state, 'live');
    } catch (error) {
      const failure = describeFailure(error);
      if (failure === 'interrupted' || !('progress' in failure)) state.unreleased.unshift(...release); // not sure it got that far
      else written(taken); // the destination answered: the activity had mirrored the state first
      if (failure === 'interrupted') {
        changed();
        return;
      }
      if (failure.gone) gone = true;
      else deliveryFailed(state, failure, Date.now(), Math.random());
    }
    changed();
  }

  /** One delivery of the backfill: the next events of its range, from the audit log. */
  async function replayOnce(deadline?: number): Promise<void> {
    const replay = state.replay!;
    const probe = state.failures > 0;
    const { replay: replayActivity } = proxyActivities<DeliveryActivities>({
      startToCloseTimeout: '5m',
      heartbeatTimeout: '10s',
      ...(deadline === undefined ? {} : { scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now() + deleteAnswerGraceMs) }),
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      summary: `backfill ${replay.id}: replay from seq ${replay.nextSeq} (of ${replay.lastSeq})`,
    });
    const release = state.unreleased;
    state.unreleased = [];
    const taken = takeRecord();
    try {
      const progress = await interruptible(
        () => replayActivity({ destinationId, tenantId, provider: input.provider, record: taken, release, backfillId: replay.id, fromSeq: replay.nextSeq, lastSeq: replay.lastSeq, probe }),
        deadline,
      );
      written(taken);
      if (replayed(state, progress)) endedReplays.push({ backfillId: replay.id, state: 'done' });
      deliverySucceeded(state, undefined, Date.now());
    } catch (error) {
      const failure = describeFailure(error);
      const answered = failure !== 'interrupted' && 'replay' in failure;
      if (answered) written(taken);
      else state.unreleased.unshift(...release);
      if (failure === 'interrupted') {
        changed();
        return;
      }
      if (failure.replay && replayed(state, failure.replay)) endedReplays.push({ backfillId: replay.id, state: 'done' });
      if (failure.gone) gone = true;
      else deliveryFailed(state, failure, Date.now(), Math.random());
    }
    tookTurn(state, 'replay');
    changed();
  }

  /** Tells the jobs (and the audit log) how their backfills ended. */
  async function reportEndedReplays(): Promise<void> {
    while (endedReplays.length > 0) {
      await finishBackfill({ tenantId, destinationId, ...endedReplays[0] });
      endedReplays.shift();
    }
  }

  /** A delete: flush within the deadline (unless disabled or failed), drop the rest, release everything. */
  async function finish(): Promise<DeleteResult> {
    const current = deletion;
    while (current && !gone && !current.abandoned && state.enabled && state.status !== 'failed' && state.pending.length > 0) {
      const now = Date.now();
      if (now >= current.deadline) break;
      if (deliverable(state, now)) await deliverOnce(current.deadline);
      else await waitUntil(Math.min(state.retryAt ?? current.deadline, current.deadline), () => current.abandoned || deliverable(state, Date.now()));
    }
    const dropped = drop(state);
    if (state.replay) endedReplays.push({ backfillId: state.replay.id, state: 'cancelled', reason: 'the destination was deleted' });
    state.replay = undefined;
    await reportEndedReplays();
    const result = current?.result ?? { flushed: current ? state.counts.delivered - current.deliveredBefore : 0, dropped };
    if (current) current.result ??= result;
    await recordState('all');
    if (input.searchAttributes) upsertSearchAttributes([{ key: statusAttribute, value: 'deleted' }]);
    await condition(allHandlersFinished);
    return result;
  }

  if (!ready) {
    const recovered = await recover({ destinationId, tenantId });
    const announced = state.pending.splice(0);
    Object.assign(state, recovered.state);
    for (const range of announced) addPending(state.pending, state.settled, range);
    if (state.status === 'failed') drop(state);
    ready = true;
  }

  /** When the loop must act by itself: a retry due, the window ending, the mirror due. */
  const wakeAt = () => Math.min(nextWakeAt(state) ?? Infinity, recordDueAt ?? Infinity);

  for (;;) {
    const until = wakeAt();
    await waitUntil(
      until,
      () =>
        deletion !== undefined ||
        gone ||
        endedReplays.length > 0 ||
        workflowInfo().continueAsNewSuggested ||
        deliverable(state, Date.now()) ||
        wakeAt() < until, // a handler brought the next wake-up forward: set an alarm for it
    );
    if (deletion !== undefined || gone) return finish();
    if (endedReplays.length > 0) {
      await reportEndedReplays();
    } else if (windowOver(state, Date.now())) {
      const abandoned = state.replay;
      exhaustWindow(state, Date.now());
      if (abandoned) endedReplays.push({ backfillId: abandoned.id, state: 'failed', reason: state.statusReason });
      changed();
    } else if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() || deletion !== undefined);
      if (deletion === undefined) await continueAsNew<typeof destinationWorkflow>({ ...input, carried: state });
    } else if (deliverable(state, Date.now())) {
      if (nextDelivery(state) === 'replay') await replayOnce();
      else await deliverOnce();
    } else if (recordDueAt !== undefined && Date.now() >= recordDueAt) {
      await recordState();
    }
  }
}
