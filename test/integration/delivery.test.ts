// Delivery semantics on the real stack, with the retry window shortened to 10 s by the
// test configuration: status transitions, the window, disable/enable, delete, duplicates,
// ordering and group commit.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectJson, database, registeredIdsOf, rest, stack, storedEventsOf, temporalClient } from '../support/clients.js';
import { newTenant, type TestTenant } from '../support/tenant.js';

const tenants: TestTenant[] = [];
async function tenant() {
  const created = await newTenant();
  tenants.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(tenants.splice(0).map((t) => t.close()));
});
afterAll(closeClients);

const numbered = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}` }));

describe('status', () => {
  it('turns degraded within seconds of the first failure, with an actionable reason and the backlog, then active with every event', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    let failuresLeft = 3;
    receiver.respondWith(() => (failuresLeft-- > 0 ? { status: 503, body: 'maintenance' } : { status: 200 }));
    const startedAt = Date.now();
    await t.publish(numbered('flaky', 5));

    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 5_000);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(degraded.statusReason).toBe('webhook answered HTTP 503: maintenance');
    expect(degraded.backlog.events).toBe('5');
    expect(degraded.backlog.windowEndsAt).toEqual(expect.any(String));
    expect(degraded.lastErrorAt).toEqual(expect.any(String));

    const active = await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '5');
    expect(active.statusReason).toBe('');
    expect(new Set(receiver.acceptedEventIds())).toEqual(new Set(numbered('flaky', 5).map((e) => e.id)));
    expect(await t.workflowStatus(id)).toMatchObject({ status: 'active', backlogEvents: 0, failures: 0 });
  });

  it('says why when the connection is refused', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    await receiver.close();
    await t.publish(numbered('refused', 1));
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 5_000);
    expect(degraded.statusReason).toBe('connection refused');
  });

  it('fails when the window is spent, drops and counts every buffered event, and re-enables on update', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 500 }));
    await t.publish(numbered('doomed', 7));
    const failed = await t.waitForDestination(id, (d) => d.status === 'failed', 30_000);
    expect(failed.counters.dropped).toBe('7');
    expect(failed.counters.delivered).toBe('0');
    expect(failed.backlog).toEqual({ events: '0' }); // no retry window once it has passed
    expect(failed.statusReason).toMatch(/^retries exhausted: .*7 buffered events dropped\. Last error: webhook answered HTTP 500/);
    expect(await t.workflowStatus(id)).toMatchObject({ status: 'failed', dropped: 7, backlogEvents: 0 });

    // Nothing is sent while failed; what arrives meanwhile is dropped and counted.
    receiver.respondWith(() => ({ status: 200 }));
    await t.publish(numbered('while-failed', 2));
    await t.waitForDestination(id, (d) => d.counters.dropped === '9');
    expect(receiver.accepted).toEqual([]);

    const updated = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { endpoint: receiver.url, enabled: true });
    expect(updated.body.destination).toMatchObject({ status: 'active', statusReason: '' });
    await t.publish(numbered('after-fix', 3));
    // Delivery follows the sequence: had a dropped event been sent, it would have come before these.
    await receiver.waitForEvents(3);
    expect(receiver.acceptedEventIds().sort()).toEqual(['after-fix-0', 'after-fix-1', 'after-fix-2']);
    expect(await t.workflowStatus(id)).toMatchObject({ status: 'active', dropped: 9 });
  });

  it('isolates one event the destination refuses, rejects it with the reason, and delivers the rest', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(({ delivery }) =>
      delivery.events.some((e) => e.id === 'poison') ? { status: 413, body: 'too large' } : { status: 200 },
    );
    await t.publish([...numbered('good', 6), { id: 'poison' }, ...numbered('more', 3)]);
    const done = await t.waitForDestination(id, (d) => d.counters.delivered === '9' && d.counters.rejected === '1');
    expect(done.status).toBe('active');
    expect(receiver.acceptedEventIds()).not.toContain('poison');
    const rejection = await (await database()).collection('rejections').findOne({ destinationId: id });
    expect(rejection).toMatchObject({ eventId: 'poison', reason: 'webhook answered HTTP 413: too large' });
  });
});

describe('what Get and List report', () => {
  it('shows the backlog while failing and zero within seconds once delivered, without a write per event', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 503 }));
    for (let i = 0; i < 5; i++) await t.publish(numbered(`spell-${i}`, 20));
    const failing = await t.waitForDestination(id, (d) => d.backlog.events === '100', 10_000);
    expect(failing.status).toBe('degraded');
    receiver.respondWith(() => ({ status: 200 }));
    await receiver.waitForEvents(100);
    const caughtUpAt = Date.now();
    const settled = await t.waitForDestination(id, (d) => d.backlog.events === '0' && d.counters.delivered === '100', 10_000);
    expect(Date.now() - caughtUpAt).toBeLessThan(5_000);
    expect(settled.status).toBe('active');
    expect(settled.backlog.windowEndsAt).toBeUndefined();
  });

  it('shows a steady stream’s backlog as what is accepted and unconfirmed, and 0 within 5 s of publishing stopping', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    // About 300 events/s for 3 s, sampling the backlog Get shows meanwhile.
    const seen: number[] = [];
    let published = 0;
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const started = Date.now();
      await t.publish(numbered(`steady-${published}`, 15));
      published += 15;
      if (published % 150 === 0) seen.push(Number((await t.destination(id)).backlog.events));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 50 - (Date.now() - started))));
    }
    const stoppedAt = Date.now();
    // Settled: nothing waits and everything is confirmed. (Between two announcements the
    // workflow's record may briefly show 0 waiting before the next events reach it: a record
    // written then — at a delivery's or a checkpoint's start — says what the workflow knew.)
    const settled = await t.waitForDestination(id, (d) => d.backlog.events === '0' && d.counters.delivered === String(published), 10_000);
    const zeroAfterMs = Date.now() - stoppedAt;
    // What was shown meanwhile never exceeded what was accepted; at the end every event is confirmed.
    for (const backlog of seen) expect(backlog).toBeLessThanOrEqual(published);
    expect(settled.counters.delivered).toBe(String(published));
    expect(new Set(receiver.acceptedEventIds()).size).toBe(published);
    console.info(`backlog 0 ${zeroAfterMs} ms after publishing stopped; shown meanwhile: ${seen.join(", ")}`);
    expect(zeroAfterMs).toBeLessThan(5_000);
  });

  it('keeps exact counters while the destination is renamed during delivery', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 200, delayMs: 50 }));
    const renaming = (async () => {
      for (let i = 0; i < 15; i++) {
        expect((await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { name: `renamed ${i}` })).status).toBe(200);
      }
    })();
    for (let i = 0; i < 8; i++) await t.publish(numbered(`rename-${i}`, 5));
    await renaming;
    await receiver.waitForEvents(40);
    const view = await t.waitForDestination(id, (d) => d.counters.delivered === '40');
    expect(view).toMatchObject({ name: 'renamed 14', status: 'active', backlog: { events: '0' } });
  });

  it('starts a terminated workflow again from MongoDB and delivers what it owed and what came after, counted once', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    await t.publish(numbered('before-loss', 3));
    await t.waitForDestination(id, (d) => d.counters.delivered === '3');
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish(numbered('owed', 2));
    await t.waitForDestination(id, (d) => d.backlog.events === '2');
    await (await temporalClient()).workflow.getHandle(`destination-${id}`).terminate('an engineer clicked terminate');
    receiver.respondWith(() => ({ status: 200 }));
    await t.publish(numbered('after-loss', 2));
    await receiver.waitForEvents(7);
    const view = await t.waitForDestination(id, (d) => d.counters.delivered === '7' && d.backlog.events === '0');
    expect(view.status).toBe('active');
    expect([...new Set(receiver.acceptedEventIds())]).toEqual([...numbered('before-loss', 3), ...numbered('owed', 2), ...numbered('after-loss', 2)].map((e) => e.id));
  });

  it('sends probes of at most 100 events while failing, even when a stored batch holds 300', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    const sizes: number[] = [];
    receiver.respondWith(({ delivery }) => {
      sizes.push(delivery.events.length);
      return sizes.length < 5 ? { status: 503 } : { status: 200 };
    });
    await t.publish(numbered('probe', 300));
    await t.waitForDestination(id, (d) => d.counters.delivered === '300', 30_000);
    // The first attempt is a normal delivery (one request holds at most 500 events); every retry is a probe.
    expect(sizes[0]).toBe(300);
    expect(sizes.slice(1, 5).every((size) => size <= 100)).toBe(true);
  });
});

describe('enable, disable, delete', () => {
  it('never sends events accepted while disabled, and sends those buffered before the disable after re-enable', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish(numbered('before-disable', 2));
    await t.waitForDestination(id, (d) => d.status === 'degraded');
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: false });
    await t.publish(numbered('while-disabled', 3));
    receiver.respondWith(() => ({ status: 200 }));
    expect(await t.workflowStatus(id)).toMatchObject({ enabled: false, backlogEvents: 2 });

    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    // The sentinel comes after the disabled period in the sequence: once it arrived, anything
    // of that period that was going to be sent would have arrived before it.
    await t.publish(numbered('after-enable', 1));
    await receiver.waitForEvents(3);
    expect(receiver.acceptedEventIds()).toEqual(['before-disable-0', 'before-disable-1', 'after-enable-0']);
  });

  it('creates a disabled destination that receives nothing until enabled', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ enabled: false });
    await t.publish(numbered('early', 2));
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    // The sentinel: events accepted while disabled would have arrived before it.
    await t.publish(numbered('late', 1));
    await receiver.waitForEvents(1);
    expect(receiver.acceptedEventIds()).toEqual(['late-0']);
  });

  it('flushes buffered events on delete and reports them, then ends the workflow', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish(numbered('flush', 4));
    await t.waitForDestination(id, (d) => d.status === 'degraded');
    setTimeout(() => receiver.respondWith(() => ({ status: 200 })), 300);
    const deleted = await rest(t.key, 'DELETE', `/v1/audit/siem/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ flushed: '4', dropped: '0' });
    expect(new Set(receiver.acceptedEventIds()).size).toBe(4);
    const workflow = (await temporalClient()).workflow.getHandle(`destination-${id}`);
    expect(await workflow.result()).toEqual({ flushed: 4, dropped: 0 });
    expect((await workflow.describe()).status.name).toBe('COMPLETED');
    expect((await rest(t.key, 'GET', `/v1/audit/siem/${id}`)).status).toBe(404);
  });

  it('reports what the delete flush could not deliver before its deadline as dropped', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish(numbered('stuck', 3));
    await t.waitForDestination(id, (d) => d.status === 'degraded');
    const deleted = await rest(t.key, 'DELETE', `/v1/audit/siem/${id}`);
    expect(deleted.body).toEqual({ flushed: '0', dropped: '3' });
  });
});

/** Group commits so far, as the service's metrics count them. */
async function flushes(): Promise<number> {
  const text = await (await fetch(`${stack.httpUrl}/metrics`)).text();
  return Number(/^auditstream_ingest_flushes_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

describe('events', () => {
  it('stores an id published twice once, and delivers it', async () => {
    const t = await tenant();
    const { receiver } = await t.addWebhook();
    expect(await t.publish([{ id: 'same' }])).toEqual([{ id: 'same', duplicate: false }]);
    await receiver.waitForEvents(1);
    expect(await t.publish([{ id: 'same' }, { id: 'other' }, { id: 'other' }])).toEqual([
      { id: 'same', duplicate: true },
      { id: 'other', duplicate: false },
      { id: 'other', duplicate: true },
    ]);
    await receiver.waitForEvents(2);
    // (The log also holds the service's own event: the destination's creation.)
    const stored = (await storedEventsOf(t.id)).map((event) => event.id).filter((id) => !id.startsWith('auditstream-'));
    expect(stored).toEqual(['same', 'other']);
    expect([...(await registeredIdsOf(t.id))].filter((id) => !id.startsWith('auditstream-')).sort()).toEqual(['other', 'same']);
    expect(receiver.acceptedEventIds().filter((x) => x === 'same').length).toBe(1);
  });

  it('delivers in acceptance order, and group-commits concurrent publishes', async () => {
    const t = await tenant();
    const { receiver } = await t.addWebhook();
    const calls = 60;
    const flushesBefore = await flushes();
    await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        connectJson(t.key, 'EventService', 'PublishEvent', { event: { id: `c-${i}`, action: 'test.concurrent' } }),
      ),
    );
    await receiver.waitForEvents(calls);
    const bySeq = (await storedEventsOf(t.id)).map((event) => event.id).filter((id) => !id.startsWith('auditstream-'));
    const arrived = [...new Set(receiver.acceptedEventIds())];
    expect(arrived).toEqual(bySeq);
    expect((await flushes()) - flushesBefore).toBeLessThan(calls / 2);
  });
});
