// One long-lived workflow per destination: a short loop over its state (./state.ts, pure
// transitions) that delivers, backs off, fails, and mirrors its state into MongoDB. Handlers
// only change the state and say so; activities do all I/O: `deliver` (and `replay`, for a
// backfill) mirrors the state, then reads the events from the audit log and sends them;
// `record` mirrors when nothing is delivered. The workflow holds seq ranges and counts only.
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
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeliveryActivities, DeliveryFailureDetails } from '../activities/delivery.js';
import {
  type DeleteResult,
  type DestinationWorkflowInput,
  type StartBackfill,
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
import { checkpointSent, initialStream, makeCheckpoint } from '../src/completeness/stream.js';
import { addPending, pendingCount } from './ranges.js';
import { statusAttribute } from './search-attributes.js';
import {
  announce,
  changed,
  checkpointDue,
  checkpointSendable,
  deliverable,
  deliveryFailed,
  deliveryRequest,
  deliverySucceeded,
  describe,
  drop,
  exhaustWindow,
  initialState,
  mirrorDue,
  nextDelivery,
  nextWakeAt,
  probeEvents,
  reconfigure,
  recordWritten,
  replayed,
  snapshot,
  startReplay,
  takeRecord,
  tookTurn,
  windowOver,
  type DeliveryFailureInfo,
  type DestinationState,
  type StateRecord,
} from './state.js';

const { recover, record, finishBackfill } = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** A delivery's activity options: a delete's flush deadline bounds it, and a delete interrupts it. */
function deliveryActivities(summary: string, deadline?: number) {
  return proxyActivities<DeliveryActivities>({
    startToCloseTimeout: '5m',
    // Heartbeats bring a cancellation (a delete) and show a dead worker within seconds.
    heartbeatTimeout: '10s',
    ...(deadline === undefined ? {} : { scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now() + deleteAnswerGraceMs) }),
    // Retries here cover the worker and the store (a crash, a timeout); the destination's own
    // failures are non-retryable and come back to the loop, which backs off on a timer.
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
    // A delete interrupts a delivery and waits for what it got through (the SDK's own default
    // is TRY_CANCEL, which would report the delivery cancelled and lose its progress).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary,
  });
}

/** The patch that brought checkpoints: a run started before it goes on as it did (Temporal's patching). */
const signedCheckpoints = 'signed-checkpoints';

/** How long past its flush deadline a delete waits for the loop before answering anyway. */
const deleteAnswerGraceMs = 3_000;

const defaultPolicy = { retryWindowMs: 86_400_000, initialBackoffMs: 1_000, maxBackoffMs: 300_000, maxEventsPerDelivery: 20_000, checkpointIntervalMs: 60_000, checkpointIdleMs: 3_600_000 };

interface Deletion {
  deadline: number;
  deliveredBefore: number;
  result?: DeleteResult;
  /** Answered before the loop finished (held up by a slow store): nothing more is sent. */
  abandoned: boolean;
}

interface EndedReplay {
  backfillId: string;
  state: 'done' | 'cancelled' | 'failed';
  reason?: string;
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

// Update validators: a request the workflow cannot carry out is refused before it enters history.
function validateReconfigure({ enabled }: { enabled: boolean }): void {
  if (typeof enabled !== 'boolean') throw new Error('reconfigure needs enabled: true or false');
}
function validateBackfill({ id, fromSeq, lastSeq }: StartBackfill): void {
  if (!id || !Number.isInteger(fromSeq) || !Number.isInteger(lastSeq) || fromSeq < 0 || lastSeq < fromSeq) {
    throw new Error(`a backfill needs an id and seqs 0 ≤ fromSeq ≤ lastSeq (got ${fromSeq}..${lastSeq})`);
  }
}
function validateDelete({ flushDeadlineMs }: { flushDeadlineMs: number }): void {
  if (!(flushDeadlineMs > 0)) throw new Error('delete needs a flush deadline above 0 ms');
}

export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<DeleteResult> {
  const { destinationId, tenantId } = input;
  // Until recovered from MongoDB (a fresh run), announcements collect in a blank state.
  const state: DestinationState = input.carried ?? initialState(true, defaultPolicy);
  let ready = input.carried !== undefined;
  let deletion: Deletion | undefined;
  let gone = false;
  const endedReplays: EndedReplay[] = [];
  state.mirrorDueAt = Date.now(); // every run mirrors once at its start

  /**
   * The loop's timers. A timer is never cancelled, only left to fire (the time-skipping test
   * server refuses a task that cancels a timer that fired meanwhile, temporalio/sdk-java#3088,
   * and a cancel costs as much history as a fire), and none is set while one that fires at or
   * before the wanted time is pending: the loop wakes then, looks again, and sets the next. So
   * deliveries that each push the mirror's due time cost one timer per mirror delay, not one each.
   */
  const alarms = new Set<number>();
  async function waitUntil(until: number, predicate: () => boolean): Promise<void> {
    const covered = () => until === Infinity || [...alarms].some((at) => at <= until);
    while (!predicate() && Date.now() < until) {
      if (!covered()) {
        alarms.add(until);
        void sleep(Math.max(1, until - Date.now())).then(() => alarms.delete(until));
      }
      await condition(() => predicate() || Date.now() >= until || !covered());
    }
  }

  const touched = () => changed(state, Date.now());

  // ---- handlers: each changes the state through ./state.ts and says so; the loop does the rest ----
  setHandler(eventsReadySignal, ({ ranges }) => {
    if (announce(state, ranges)) touched();
  });
  setHandler(
    reconfigureUpdate,
    async ({ enabled }) => {
      await condition(() => ready);
      reconfigure(state, enabled, Date.now());
      touched();
      return snapshot(state);
    },
    { validator: validateReconfigure },
  );
  setHandler(statusQuery, () => snapshot(state));
  setHandler(
    startBackfillUpdate,
    async (replay) => {
      await condition(() => ready);
      if (state.replay) return { started: false, running: state.replay.id };
      startReplay(state, replay);
      touched();
      return { started: true };
    },
    { validator: validateBackfill },
  );
  setHandler(cancelBackfillUpdate, ({ id }) => {
    if (state.replay?.id !== id) return { cancelled: false };
    state.replay = undefined;
    endedReplays.push({ backfillId: id, state: 'cancelled', reason: 'cancelled by the API' });
    return { cancelled: true };
  });
  setHandler(
    deleteUpdate,
    async ({ flushDeadlineMs }) => {
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
    },
    { validator: validateDelete },
  );

  // ---- the mirror: what MongoDB shows of this workflow ----

  /** The record a mirror write takes now, with the Temporal UI's view of it. */
  function mirrored(): StateRecord {
    const statusBefore = state.mirroredStatus;
    const taken = takeRecord(state);
    setCurrentDetails(describe(taken));
    if (input.searchAttributes && taken.status !== statusBefore) upsertSearchAttributes([{ key: statusAttribute, value: taken.status }]);
    return taken;
  }

  async function recordState(final = false): Promise<void> {
    const taken = mirrored();
    try {
      const { policy } = await record({ destinationId, tenantId, provider: input.provider, record: taken, final });
      recordWritten(state, taken);
      if (JSON.stringify(policy) !== JSON.stringify(state.policy)) {
        state.policy = policy; // the window and the backoff follow the service's configuration
        touched();
      }
    } catch (error) {
      touched();
      throw error;
    }
  }

  // ---- deliveries ----

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

  /**
   * One delivery, of live events or of the backfill's next events (whose turn it is): it
   * mirrors the state first, then reads and sends. What got through counts even when it failed.
   */
  async function deliverNext(deadline?: number): Promise<void> {
    const kind = deadline === undefined ? nextDelivery(state) : 'live';
    const base = { destinationId, tenantId, provider: input.provider, record: mirrored() };
    const probe = state.failures > 0;
    const backfillId = state.replay?.id;
    let attempt: () => Promise<void>;
    if (kind === 'live') {
      const request = deliveryRequest(state);
      const events = Math.min(pendingCount(request.expect), probe ? probeEvents : state.policy.maxEventsPerDelivery);
      const { deliver } = deliveryActivities(`deliver up to ${events} events from seq ${request.expect[0].lo}`, deadline);
      const stream = { next: state.stream.next, chain: state.stream.chain };
      attempt = async () => deliverySucceeded(state, await deliver({ ...base, ...request, stream }), Date.now());
    } else {
      const replay = state.replay!;
      const { replay: replayActivity } = deliveryActivities(`backfill ${replay.id}: replay from seq ${replay.nextSeq} (of ${replay.lastSeq})`, deadline);
      attempt = async () => {
        const progress = await replayActivity({ ...base, backfillId: replay.id, fromSeq: replay.nextSeq, lastSeq: replay.lastSeq, probe });
        if (replayed(state, progress)) endedReplays.push({ backfillId: replay.id, state: 'done' });
        deliverySucceeded(state, undefined, Date.now());
      };
    }
    try {
      await interruptible(attempt, deadline);
      recordWritten(state, base.record);
    } catch (error) {
      const failure = describeFailure(error);
      if (failure === 'interrupted') {
        touched();
        return;
      }
      // A destination's answer: the activity had mirrored the state before it sent.
      if (failure.progress || failure.replay) recordWritten(state, base.record);
      if (kind === 'replay' && failure.replay && replayed(state, failure.replay)) endedReplays.push({ backfillId: backfillId!, state: 'done' });
      if (failure.gone) gone = true;
      else deliveryFailed(state, failure, Date.now(), Math.random());
    }
    tookTurn(state, kind);
    touched();
  }

  /**
   * Sends the checkpoint made last (the activity mirrors the state first, so a lost workflow's
   * successor sends this same checkpoint, not another with its number); a failure to send it is
   * the destination's, like a delivery's.
   */
  async function sendCheckpoint(): Promise<void> {
    const plan = state.stream.unsent!;
    const { checkpoint } = deliveryActivities(`checkpoint ${plan.n}: sequence ${plan.first}..${plan.last}`);
    const record = mirrored();
    try {
      const { hash } = await interruptible(() => checkpoint({ destinationId, tenantId, provider: input.provider, record, plan }));
      recordWritten(state, record);
      checkpointSent(state.stream, hash);
      // With no events waiting, the destination is well again; else their delivery says whether it is.
      if (state.pending.length === 0 && !state.replay) deliverySucceeded(state, undefined, Date.now());
    } catch (error) {
      const failure = describeFailure(error);
      if (failure === 'interrupted') return touched();
      if (failure.gone) gone = true;
      else deliveryFailed(state, failure, Date.now(), Math.random());
    }
    touched();
  }

  /** Tells the jobs (and the audit log) how their backfills ended. */
  async function reportEndedReplays(): Promise<void> {
    while (endedReplays.length > 0) {
      await finishBackfill({ tenantId, destinationId, ...endedReplays[0] });
      endedReplays.shift();
    }
  }

  /** A delete: flush within the deadline (unless disabled or failed), drop the rest, mirror the end. */
  async function finish(): Promise<DeleteResult> {
    const current = deletion;
    while (current && !gone && !current.abandoned && state.enabled && state.status !== 'failed' && state.pending.length > 0) {
      const now = Date.now();
      if (now >= current.deadline) break;
      if (deliverable(state, now)) await deliverNext(current.deadline);
      else await waitUntil(Math.min(state.retryAt ?? current.deadline, current.deadline), () => current.abandoned || deliverable(state, Date.now()));
    }
    const dropped = drop(state);
    if (state.replay) endedReplays.push({ backfillId: state.replay.id, state: 'cancelled', reason: 'the destination was deleted' });
    state.replay = undefined;
    await reportEndedReplays();
    const result = current?.result ?? { flushed: current ? state.counts.delivered - current.deliveredBefore : 0, dropped };
    // Recorded before the delete is answered: once answered, the API removes the destination
    // and its record, and a record written after that would be left behind. A delete already
    // answered (abandoned) may have been removed: nothing more is written for it.
    if (!current?.abandoned) await recordState(true);
    if (current) current.result ??= result;
    if (input.searchAttributes) upsertSearchAttributes([{ key: statusAttribute, value: 'deleted' }]);
    await condition(allHandlersFinished);
    return result;
  }

  if (!ready) {
    const recovered = await recover({ destinationId, tenantId });
    const announced = state.pending.splice(0);
    const knownChunk = state.knownChunk;
    Object.assign(state, recovered.state);
    for (const range of announced) addPending(state.pending, state.settled, range);
    state.knownChunk = Math.max(state.knownChunk ?? -1, knownChunk ?? -1);
    if (state.status === 'failed') drop(state);
    state.mirrorDueAt = Date.now();
    ready = true;
  }
  state.stream ??= initialStream(); // a state carried from before there were checkpoints
  state.stream.lastMadeAt ??= Date.now();

  // ---- the loop ----
  for (;;) {
    const until = nextWakeAt(state) ?? Infinity;
    await waitUntil(
      until,
      () =>
        deletion !== undefined ||
        gone ||
        endedReplays.length > 0 ||
        workflowInfo().continueAsNewSuggested ||
        deliverable(state, Date.now()) ||
        checkpointSendable(state, Date.now()) ||
        (nextWakeAt(state) ?? Infinity) < until, // a handler brought the next wake-up forward
    );
    const now = Date.now();
    if (deletion !== undefined || gone) return finish();
    if (endedReplays.length > 0) {
      await reportEndedReplays();
    } else if (windowOver(state, now)) {
      const abandoned = state.replay;
      exhaustWindow(state, now);
      if (abandoned) endedReplays.push({ backfillId: abandoned.id, state: 'failed', reason: state.statusReason });
      touched();
    } else if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() || deletion !== undefined);
      if (deletion === undefined) await continueAsNew<typeof destinationWorkflow>({ ...input, carried: state });
    } else if (checkpointSendable(state, now) && patched(signedCheckpoints)) {
      await sendCheckpoint();
    } else if (checkpointDue(state, now) && patched(signedCheckpoints)) {
      makeCheckpoint(state.stream, now);
      touched();
    } else if (deliverable(state, now)) {
      await deliverNext();
    } else if (mirrorDue(state, now)) {
      await recordState();
    }
  }
}
