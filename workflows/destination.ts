// One long-lived workflow per destination. It holds only seq ranges, counters and status;
// activities do all I/O. It turns delivery attempts into status (active → degraded on a
// failed attempt → active on success, or failed when the retry window is spent), mirrors
// every status change into MongoDB, and drives the outer backoff with durable timers so a
// fix of the destination is retried at once.
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeliveryActivities, DeliveryFailureDetails, DeliveryProgress } from '../activities/delivery.js';
import type { DestinationStatus } from '../src/model.js';
import {
  type CarriedState,
  type DeleteRequest,
  type DeleteResult,
  type DestinationSnapshot,
  type DestinationWorkflowInput,
  deleteUpdate,
  deliveryFailedType,
  destinationGoneType,
  eventsReadySignal,
  misconfiguredType,
  reconfigureSignal,
  statusQuery,
} from './messages.js';
import { addPending, head, oldestPendingAt, pendingCount, settle, settleAll } from './ranges.js';
import { statusAttribute } from './search-attributes.js';

const { recordStatus } = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
  summary: 'mirror status into MongoDB',
});

/** Events sent by a retry while the destination is failing. */
const probeEvents = 100;

interface AttemptFailure {
  reason: string;
  progress?: DeliveryFailureDetails;
  gone: boolean;
}

function describeFailure(error: unknown): AttemptFailure {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    const known = [deliveryFailedType, misconfiguredType, destinationGoneType].includes(cause.type ?? '');
    return {
      reason: known ? cause.message : `delivery error: ${cause.message}`,
      progress: cause.details?.[0] as DeliveryFailureDetails | undefined,
      gone: cause.type === destinationGoneType,
    };
  }
  if (cause instanceof TimeoutFailure) {
    return { reason: 'delivery timed out before the destination answered or the worker stopped', gone: false };
  }
  return { reason: `delivery error: ${cause instanceof Error ? cause.message : String(cause)}`, gone: false };
}

export async function destinationWorkflow(input: DestinationWorkflowInput): Promise<DeleteResult> {
  const { policy } = input;
  const state: CarriedState = input.carried ?? {
    status: 'active',
    statusReason: '',
    enabled: input.enabled,
    pending: [],
    settled: [],
    failures: 0,
    delivered: 0,
    rejected: 0,
    dropped: 0,
  };
  let configVersion = 0;
  let deleteRequest: DeleteRequest | undefined;
  let deleteResult: DeleteResult | undefined;
  let gone = false;
  let statusVersion = 0;
  let mirroredVersion = 0;

  const windowEndsAt = () => (state.failingSince === undefined ? undefined : state.failingSince + policy.retryWindowMs);

  function snapshot(): DestinationSnapshot {
    return {
      status: state.status,
      statusReason: state.statusReason,
      enabled: state.enabled,
      backlogEvents: pendingCount(state.pending),
      oldestEventAt: oldestPendingAt(state.pending),
      windowEndsAt: windowEndsAt(),
      pendingRanges: state.pending.length,
      settledIntervals: state.settled.length,
      delivered: state.delivered,
      rejected: state.rejected,
      dropped: state.dropped,
      failures: state.failures,
      stateBytes: JSON.stringify(state).length,
    };
  }

  /** Records that status, reason, backlog or dropped count changed: the mirror picks it up. */
  function changed(): void {
    statusVersion++;
    const view = snapshot();
    const lines = [`**${view.status}**${view.statusReason ? `: ${view.statusReason}` : ''}`];
    if (view.backlogEvents > 0) lines.push(`backlog: ${view.backlogEvents} events`);
    if (view.windowEndsAt !== undefined) lines.push(`retry window ends: ${new Date(view.windowEndsAt).toISOString()}`);
    lines.push(`delivered ${view.delivered}, rejected ${view.rejected}, dropped ${view.dropped}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  function setStatus(status: DestinationStatus, reason: string): void {
    if (input.searchAttributes && status !== state.status) upsertSearchAttributes([{ key: statusAttribute, value: status }]);
    state.status = status;
    state.statusReason = reason;
    changed();
  }

  async function mirrorLoop(): Promise<void> {
    for (;;) {
      await condition(() => statusVersion !== mirroredVersion);
      const version = statusVersion;
      const view = snapshot();
      await recordStatus({
        destinationId: input.destinationId,
        status: view.status,
        statusReason: view.statusReason,
        backlogEvents: view.backlogEvents,
        oldestEventAt: view.status === 'active' ? undefined : view.oldestEventAt,
        windowEndsAt: view.status === 'degraded' ? view.windowEndsAt : undefined,
        dropped: view.dropped,
        lastErrorAt: state.lastErrorAt,
      });
      mirroredVersion = version;
    }
  }

  function apply(progress: DeliveryProgress): void {
    for (const range of progress.settled) settle(state.pending, state.settled, range.lo, range.hi, range.count);
    state.delivered += progress.delivered;
    state.rejected += progress.rejected;
    if (progress.lost > 0) {
      state.dropped += progress.lost;
      changed();
    }
  }

  setHandler(eventsReadySignal, ({ ranges }) => {
    for (const range of ranges) {
      if (state.status === 'failed' && deleteRequest === undefined) {
        // Nothing is sent while failed: events arriving now are dropped, and counted.
        if (addPending(state.pending, state.settled, range)) {
          state.dropped += settleAll(state.pending, state.settled);
          changed();
        }
      } else {
        addPending(state.pending, state.settled, range);
      }
    }
  });

  setHandler(reconfigureSignal, ({ enabled }) => {
    state.enabled = enabled;
    configVersion++;
    if (enabled && state.status === 'failed') {
      state.failures = 0;
      state.failingSince = undefined;
      setStatus('active', '');
    }
  });

  setHandler(statusQuery, snapshot);

  setHandler(deleteUpdate, async (request) => {
    deleteRequest ??= request;
    await condition(() => deleteResult !== undefined);
    return deleteResult!;
  });

  /** One delivery activity over the oldest pending ranges; true when it succeeded. */
  async function deliverOnce(deadline?: number): Promise<{ ok: boolean; retryAfterMs?: number }> {
    // While failing, each retry is a small probe: a long outage must not re-read the
    // whole backlog on every attempt. The first success goes back to full batches.
    const maxEvents = state.failures > 0 ? Math.min(probeEvents, policy.maxEventsPerActivity) : policy.maxEventsPerActivity;
    const ranges = head(state.pending, maxEvents);
    const events = Math.min(maxEvents, pendingCount(ranges));
    const { deliver } = proxyActivities<DeliveryActivities>({
      startToCloseTimeout: '5m',
      heartbeatTimeout: '10s',
      ...(deadline === undefined ? {} : { scheduleToCloseTimeout: Math.max(1_000, deadline - Date.now()) }),
      // Retries here cover the worker and the store (a crash, a timeout); the destination's own
      // failures are non-retryable and come back to the loop below, which backs off.
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
      summary: `deliver up to ${events} events from seq ${ranges[0].lo}`,
    });
    try {
      const progress = await deliver({
        destinationId: input.destinationId,
        tenantId: input.tenantId,
        ranges,
        maxEvents,
      });
      apply(progress);
      const reason = progress.note ?? '';
      if (state.status !== 'active' || state.failures > 0 || state.statusReason !== reason) {
        state.failures = 0;
        state.failingSince = undefined;
        setStatus('active', reason);
      }
      return { ok: true };
    } catch (error) {
      const failure = describeFailure(error);
      const madeProgress = (failure.progress?.settled.length ?? 0) > 0;
      if (failure.progress) apply(failure.progress);
      gone = failure.gone;
      const now = Date.now();
      state.failures++;
      state.lastErrorAt = now;
      // The window runs from the first failure of the oldest event still buffered.
      if (state.failingSince === undefined || madeProgress) state.failingSince = now;
      setStatus('degraded', failure.reason);
      return { ok: false, retryAfterMs: failure.progress?.retryAfterMs };
    }
  }

  /** Exponential backoff with equal jitter, at least Retry-After, never past `until`. */
  async function backOff(retryAfterMs: number | undefined, until: number, interruptOnDelete: boolean): Promise<void> {
    const exponential = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(30, state.failures - 1));
    let delay = exponential / 2 + (Math.random() * exponential) / 2;
    if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(retryAfterMs, policy.maxBackoffMs));
    const wakeAt = Math.min(Date.now() + delay, until);
    const version = configVersion;
    await condition(
      () => configVersion !== version || (interruptOnDelete && deleteRequest !== undefined),
      Math.max(1, wakeAt - Date.now()),
    );
  }

  function exhaustWindow(lastReason: string): void {
    const dropped = settleAll(state.pending, state.settled);
    state.dropped += dropped;
    const since = new Date(state.failingSince!).toISOString();
    setStatus(
      'failed',
      `retries exhausted: no successful delivery since ${since}; ${dropped} buffered events dropped. ` +
        `Last error: ${lastReason}. Fix the destination, then update it to re-enable streaming.`,
    );
  }

  async function flushForDelete(request: DeleteRequest): Promise<DeleteResult> {
    const deadline = Date.now() + request.flushDeadlineMs;
    const deliveredBefore = state.delivered;
    while (state.pending.length > 0 && Date.now() < deadline && !gone) {
      const attempt = await deliverOnce(deadline);
      if (!attempt.ok && Date.now() < deadline) await backOff(attempt.retryAfterMs, deadline, false);
    }
    const dropped = settleAll(state.pending, state.settled);
    state.dropped += dropped;
    return { flushed: state.delivered - deliveredBefore, dropped };
  }

  void mirrorLoop();
  changed();

  const hasWork = () =>
    deleteRequest !== undefined ||
    gone ||
    workflowInfo().continueAsNewSuggested ||
    (state.enabled && state.status !== 'failed' && state.pending.length > 0);

  for (;;) {
    // A degraded destination that is disabled still loses its buffer when the window ends.
    const degradedUntil = state.status === 'degraded' && state.pending.length > 0 ? windowEndsAt() : undefined;
    if (degradedUntil === undefined) await condition(hasWork);
    else if (!(await condition(hasWork, Math.max(1, degradedUntil - Date.now())))) {
      exhaustWindow(state.statusReason);
      continue;
    }
    if (deleteRequest !== undefined || gone) {
      deleteResult = await flushForDelete(deleteRequest ?? { flushDeadlineMs: 0 });
      await condition(() => allHandlersFinished() && mirroredVersion === statusVersion);
      return deleteResult;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && mirroredVersion === statusVersion);
      await continueAsNew<typeof destinationWorkflow>({ ...input, enabled: state.enabled, carried: state });
    }
    const attempt = await deliverOnce();
    if (attempt.ok || gone) continue;
    const windowEnd = windowEndsAt()!;
    if (Date.now() < windowEnd) await backOff(attempt.retryAfterMs, windowEnd, true);
    if (deleteRequest === undefined && state.status === 'degraded' && Date.now() >= windowEnd) {
      exhaustWindow(state.statusReason);
    }
  }
}
