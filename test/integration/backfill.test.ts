// Backfill on the real stack: the gap of a disabled period and of a failure replayed into a
// destination, once per id and nothing outside it; a backfill into a failing destination that
// turns it degraded and completes after recovery with exact counts; live events not held up
// behind a backfill; cancel; another tenant kept out.
import { isCheckpoint } from '../support/receiver.js';
import { describe, expect, it } from 'vitest';
import { connectJson, database, rest } from '../support/clients.js';
import { tenantsOfThisFile, type TestTenant } from '../support/tenant.js';
import type { ReceivedEvent } from '../support/receiver.js';
import { eventually } from '../support/wait.js';

const tenant = tenantsOfThisFile();

const numbered = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}` }));
const backfill = (t: TestTenant, id: string, body: object) => rest(t.key, 'POST', `/v1/audit/siem/${id}/backfills`, body);
const job = (t: TestTenant, id: string, backfillId: string) => rest(t.key, 'GET', `/v1/audit/siem/${id}/backfills/${backfillId}`).then((r) => r.body.backfill);
const finished = (t: TestTenant, id: string, backfillId: string, timeoutMs = 30_000) =>
  eventually(() => job(t, id, backfillId), (b) => b.state !== 'running', timeoutMs);
/** Waits until the audit log has settled past everything published so far (1 s in the suite). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_200));
const replays = (events: ReceivedEvent[]) => events.filter((event) => event.replay !== undefined);

describe('backfill', () => {
  it('replays exactly the events of a disabled period, once each, marked as replays; dry run counts them first', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    await t.publish(numbered('before', 3));
    await receiver.waitForEvents(3);
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: false });
    await t.publish(numbered('gap', 4));
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    await t.publish(numbered('after', 2));
    await receiver.waitForEvents(5);
    await settle();

    const dry = await backfill(t, id, { gap: 'disabled', dry_run: true });
    expect(dry.status).toBe(201);
    expect(dry.body).toEqual({ count: '4' });
    const started = await backfill(t, id, { gap: 'disabled' });
    expect(started.body).toMatchObject({ count: '4', backfill: { scope: 'disabled', state: 'running', total: '4' } });
    const done = await finished(t, id, started.body.backfill.id);
    expect(done).toMatchObject({ state: 'done', total: '4', delivered: '4', rejected: '0', progressPercent: 100 });

    const events = receiver.accepted.flatMap((delivery) => delivery.events).filter((event) => !event.id.startsWith('auditstream-'));
    expect(events.map((event) => event.id)).toEqual(['before-0', 'before-1', 'before-2', 'after-0', 'after-1', 'gap-0', 'gap-1', 'gap-2', 'gap-3']);
    expect(replays(events).map((event) => event.id)).toEqual(['gap-0', 'gap-1', 'gap-2', 'gap-3']);
    expect(replays(events)[0].replay).toEqual({ backfillId: started.body.backfill.id });
    // Not counted as live deliveries: the destination's own accounting is unchanged.
    expect((await t.destination(id)).counters).toMatchObject({ delivered: '5', dropped: '0' });
    // And in the log: who started it, and that it finished.
    const logged = await eventually(
      async () => (await connectJson(t.key, 'AuditLogService', 'QueryEvents', { filter: { actionPrefix: 'siem.destination.backfill' } })).body.events ?? [],
      (found: { action: string }[]) => found.length === 2,
    );
    expect(logged.map((event: { action: string }) => event.action)).toEqual(['siem.destination.backfill_started', 'siem.destination.backfill_done']);
  }, 60_000);

  it('leaves no event of a disable and enable during continuous publishing outside both the live stream and the gap’s backfill', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    const acked: string[] = [];
    let stop = false;
    // Four publishers back to back: events are accepted throughout both toggles.
    const publishers = Array.from({ length: 4 }, (_, p) =>
      (async () => {
        for (let n = 0; !stop; n++) {
          const events = numbered(`race-${p}-${n}`, 10);
          await t.publish(events);
          acked.push(...events.map((event) => event.id));
        }
      })(),
    );
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
    await pause();
    expect((await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: false })).status).toBe(200);
    await pause();
    expect((await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true })).status).toBe(200);
    await pause();
    stop = true;
    await Promise.all(publishers);
    await settle();
    const started = await backfill(t, id, { gap: 'disabled' });
    expect(started.status).toBe(201);
    expect((await finished(t, id, started.body.backfill.id)).state).toBe('done');
    const received = await eventually(
      async () => new Set(receiver.acceptedEventIds()),
      (ids) => acked.every((eventId) => ids.has(eventId)),
      20_000,
    ).catch(() => new Set(receiver.acceptedEventIds()));
    expect(acked.filter((eventId) => !received.has(eventId))).toEqual([]);
    // The gap holds exactly what was not sent live: nothing is replayed that had gone out already.
    const arrivals = receiver.accepted.flatMap((delivery) => delivery.events);
    const live = new Set(arrivals.filter((event) => event.replay === undefined).map((event) => event.id));
    expect(replays(arrivals).filter((event) => live.has(event.id)).map((event) => event.id)).toEqual([]);
    expect(replays(arrivals).length).toBeGreaterThan(0);
  });

  it('replays what a failure dropped, once its destination is re-enabled', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 500 }));
    await t.publish(numbered('doomed', 5));
    await t.waitForDestination(id, (d) => d.status === 'failed', 30_000);
    await t.publish(numbered('while-failed', 2));
    await t.waitForDestination(id, (d) => d.counters.dropped === '7');
    receiver.respondWith(() => ({ status: 200 }));
    expect((await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true })).body.destination.status).toBe('active');
    await t.publish(numbered('after-fix', 1));
    await receiver.waitForEvents(1);
    await settle();

    expect((await backfill(t, id, { gap: 'failed', dry_run: true })).body).toEqual({ count: '7' });
    const started = await backfill(t, id, { gap: 'failed' });
    expect(await finished(t, id, started.body.backfill.id)).toMatchObject({ state: 'done', delivered: '7' });
    const ids = receiver.acceptedEventIds();
    expect(ids.slice(1).sort()).toEqual([...numbered('doomed', 5), ...numbered('while-failed', 2)].map((e) => e.id).sort());
    expect(new Set(ids).size).toBe(ids.length);
  }, 60_000);

  it('turns a failing destination degraded, and completes after recovery with exact counts; refuses a second at once', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ enabled: false });
    await t.publish(numbered('history', 30));
    await settle();
    receiver.respondWith(() => ({ status: 503, body: 'down' }));
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    const started = await backfill(t, id, { filter: { action: 'test.event' } });
    expect(started.body.count).toBe('30');
    expect((await backfill(t, id, { filter: {} })).body.message).toBe(`backfill ${started.body.backfill.id} is still running for this destination: wait for it or cancel it`);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded');
    expect(degraded.statusReason).toBe('webhook answered HTTP 503: down');
    receiver.respondWith(() => ({ status: 200 }));
    expect(await finished(t, id, started.body.backfill.id)).toMatchObject({ state: 'done', total: '30', delivered: '30', rejected: '0' });
    expect(new Set(receiver.acceptedEventIds()).size).toBe(30);
    await t.waitForDestination(id, (d) => d.status === 'active');
  }, 60_000);

  it('keeps live events flowing during a backfill, and stops when cancelled', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ enabled: false });
    for (let i = 0; i < 5; i++) {
      await t.publish(numbered(`bulk-${i}`, 1_000));
      await new Promise((resolve) => setTimeout(resolve, 600)); // within the suite's 2,000 events/s
    }
    await settle();
    receiver.respondWith(() => ({ status: 200, delayMs: 400 }));
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    const started = await backfill(t, id, { filter: {} });
    expect(Number(started.body.count)).toBeGreaterThanOrEqual(5_000);
    await eventually(async () => replays(receiver.accepted.flatMap((d) => d.events)).length, (n) => n > 0);

    // A live event goes out after at most one backfill delivery, not after the whole backfill.
    const sent = Date.now();
    await t.publish([{ id: 'live-during-backfill' }]);
    await eventually(async () => receiver.acceptedEventIds().includes('live-during-backfill'), Boolean, 10_000);
    expect(Date.now() - sent).toBeLessThan(5_000);

    const cancelled = await rest(t.key, 'POST', `/v1/audit/siem/${id}/backfills/${started.body.backfill.id}/cancel`);
    expect(cancelled.status).toBe(200);
    const ended = await finished(t, id, started.body.backfill.id);
    expect(ended).toMatchObject({ state: 'cancelled', reason: 'cancelled by the API' });
    expect(Number(ended.delivered)).toBeLessThan(5_000);
    // Nothing more of it is sent: a live event published now is the last thing that arrives.
    await t.publish([{ id: 'sentinel-after-cancel' }]);
    await eventually(async () => receiver.acceptedEventIds().includes('sentinel-after-cancel'), Boolean, 10_000);
    const afterSentinel = receiver.accepted.flatMap((d) => d.events).filter((e) => !isCheckpoint(e)).map((e) => e.id);
    expect(afterSentinel.slice(afterSentinel.indexOf('sentinel-after-cancel') + 1)).toEqual([]);
    expect(replays(receiver.accepted.flatMap((d) => d.events)).length).toBe(Number(ended.delivered));
    const logged = await eventually(
      async () => (await connectJson(t.key, 'AuditLogService', 'QueryEvents', { filter: { actionPrefix: 'siem.destination.backfill' } })).body.events ?? [],
      (found: { action: string }[]) => found.length === 2,
    );
    expect(logged.map((event: { action: string }) => event.action)).toEqual(['siem.destination.backfill_started', 'siem.destination.backfill_cancelled']);
  }, 90_000);

  it('counts each event of a backfill once when a request fails after half of a split went through', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ enabled: false });
    await t.publish(numbered('split', 200));
    await settle();
    // Requests over 100 events are refused as too large (split in halves); the first request
    // holding split-150 fails once, after the half before it was accepted.
    let failedOnce = false;
    receiver.respondWith(({ delivery }) => {
      if (delivery.events.length > 100) return { status: 413 };
      if (!failedOnce && delivery.events.some((event) => event.id === 'split-150')) {
        failedOnce = true;
        return { status: 503, body: 'once' };
      }
      return { status: 200 };
    });
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    const started = await backfill(t, id, { filter: { action: 'test.event' } });
    expect(started.body.count).toBe('200');
    const done = await finished(t, id, started.body.backfill.id);
    expect(failedOnce).toBe(true);
    // The half accepted before the failure is sent again (at least once) but counted once.
    expect(done).toMatchObject({ state: 'done', total: '200', delivered: '200', rejected: '0' });
    expect(new Set(receiver.acceptedEventIds()).size).toBe(200);
  }, 60_000);

  it('answers a cancel the workflow refused (its backfill had ended) with FAILED_PRECONDITION, not "cancelled"', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    // The workflow is past its start, where it would take up a running job it finds in the store as its own.
    await t.publish([{ id: 'workflow-running' }]);
    await eventually(async () => receiver.acceptedEventIds().includes('workflow-running'), Boolean, 10_000);
    // A job still shown running whose replay the workflow no longer has (it ended, not yet recorded).
    const jobId = `bkf_${'0'.repeat(20)}${Date.now()}`;
    await (await database()).collection('backfills').insertOne({
      _id: jobId as never, tenantId: t.id, destinationId: id, scope: 'time_range', filter: {}, fromSeq: 0, lastSeq: 0, total: 0, delivered: 0, rejected: 0, nextSeq: 0, state: 'running', createdAt: new Date(),
    });
    const cancelled = await rest(t.key, 'POST', `/v1/audit/siem/${id}/backfills/${jobId}/cancel`);
    expect(cancelled.status).toBe(400);
    expect(cancelled.body).toEqual({ code: 'failed_precondition', message: `backfill ${jobId} ended before it could be cancelled: see GetBackfill for how` });
  });

  it("keeps one tenant out of another's backfills", async () => {
    const a = await tenant();
    const b = await tenant();
    const { id } = await a.addWebhook();
    await a.publish(numbered('a-only', 2));
    await settle();
    expect((await backfill(b, id, { filter: {}, dry_run: true })).status).toBe(404);
    expect((await rest(b.key, 'GET', `/v1/audit/siem/${id}/backfills`)).status).toBe(404);
    expect((await backfill(a, id, { gap: 'disabled' })).body).toEqual({ code: 'invalid_argument', message: `destination ${id} has no disabled period in the audit log to backfill` });
    expect((await backfill(a, id, { gap: 'sideways' })).body.message).toBe('gap must be "disabled" or "failed" (got "sideways")');
  });
});
