// The audit log as a customer uses it, on the real stack: query with filters and a cursor
// (Connect, gRPC-shaped JSON and REST), get one event, retention with its Temporal Schedule
// and a legal hold, exports downloaded and checked against their manifest, the service's own
// events about a failing destination reaching the tenant's other destination, and one tenant
// reading nothing of another's.
import { isCheckpoint } from '../support/receiver.js';
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/store/audit-log.js';
import { connectStore } from '../../src/store/mongo.js';
import { connectJson, rest, stack, temporalClient } from '../support/clients.js';
import { admin } from '../support/admin-cli.js';
import { tenantsOfThisFile, type TestTenant } from '../support/tenant.js';
import { eventually } from '../support/wait.js';

const tenant = tenantsOfThisFile();

const query = (key: string, body: unknown) => connectJson(key, 'AuditLogService', 'QueryEvents', body);

/** Every page of a query, following next_cursor while `more`. */
async function queryAll(key: string, filter: unknown = {}, pageSize = 1000, newestFirst = false): Promise<any[]> {
  const events: any[] = [];
  let cursor = '';
  for (;;) {
    const page = await query(key, { filter, pageSize, cursor, newestFirst });
    expect(page.status).toBe(200);
    events.push(...(page.body.events ?? []));
    cursor = page.body.nextCursor;
    if (!page.body.more) return events;
  }
}

/** Publishes, then waits until the log shows everything (it shows events once they settled, 1 s in the suite). */
async function publishSettled(t: TestTenant, events: { id: string; action?: string; [field: string]: unknown }[]): Promise<void> {
  await connectJson(t.key, 'EventService', 'PublishEvents', { events: events.map((e) => ({ action: 'test.event', ...e })) }).then((answer) => {
    if (answer.status !== 200) throw new Error(JSON.stringify(answer.body));
  });
  const last = events[events.length - 1].id;
  await eventually(async () => (await connectJson(t.key, 'AuditLogService', 'GetEvent', { id: last })).status, (status) => status === 200);
  await eventually(async () => (await queryAll(t.key)).some((e) => e.id === last), Boolean, 10_000);
}

describe('querying the audit log', () => {
  it('filters by time, action (exact and prefix), actor, resource and outcome, in acceptance order, page after page', async () => {
    const t = await tenant();
    const at = Date.parse('2026-06-01T00:00:00Z');
    const events = Array.from({ length: 2_500 }, (_, i) => ({
      id: `q-${i}`,
      action: ['user.login', 'user.logout', 'key.rotated'][i % 3],
      outcome: i % 5 === 0 ? 'failure' : 'success',
      occurredAt: new Date(at + i * 60_000).toISOString(),
      actor: { id: `u-${i % 7}` },
      resource: { type: 'document', id: `d-${i % 4}` },
    }));
    for (let i = 0; i < events.length; i += 1000) await publishSettled(t, events.slice(i, i + 1000));

    const all = await queryAll(t.key, {}, 700);
    expect(all.map((e) => e.id)).toEqual(events.map((e) => e.id));
    const firstPage = await query(t.key, { pageSize: 1000 });
    expect(firstPage.body.events).toHaveLength(1000);
    expect(firstPage.body.more).toBe(true);
    expect(firstPage.body.events[0]).toMatchObject({ id: 'q-0', action: 'user.login', outcome: 'failure', actor: { id: 'u-0' }, resource: { type: 'document', id: 'd-0' } });

    const expect_ = (filter: object, keep: (e: (typeof events)[number], i: number) => boolean) =>
      queryAll(t.key, filter).then((found) => expect(found.map((e) => e.id)).toEqual(events.filter(keep).map((e) => e.id)));
    await expect_({ action: 'key.rotated' }, (e) => e.action === 'key.rotated');
    await expect_({ actionPrefix: 'user.' }, (e) => e.action.startsWith('user.'));
    await expect_({ actorId: 'u-3', outcome: 'failure' }, (e) => e.actor.id === 'u-3' && e.outcome === 'failure');
    await expect_({ outcomes: ['failure', 'unknown'] }, (e) => e.outcome !== 'success');
    await expect_({ resourceType: 'document', resourceId: 'd-2' }, (e) => e.resource.id === 'd-2');
    await expect_(
      { occurredAfter: new Date(at + 100 * 60_000).toISOString(), occurredBefore: new Date(at + 200 * 60_000).toISOString() },
      (_, i) => i >= 100 && i < 200,
    );

    // REST, as the product page's paths, with the same JSON.
    const viaRest = await rest(t.key, 'GET', '/v1/audit/events?action=user.logout&page_size=2');
    expect(viaRest.status).toBe(200);
    expect(viaRest.body.events.map((e: { id: string }) => e.id)).toEqual(['q-1', 'q-4']);
    const next = await rest(t.key, 'GET', `/v1/audit/events?action=user.logout&page_size=2&cursor=${viaRest.body.nextCursor}`);
    expect(next.body.events.map((e: { id: string }) => e.id)).toEqual(['q-7', 'q-10']);
    expect((await rest(t.key, 'GET', '/v1/audit/events/q-42')).body.event).toMatchObject({ id: 'q-42', action: 'user.login' });

    // Newest first: the same events in reverse, every page and filter, over Connect and REST; a cursor keeps its order.
    expect((await queryAll(t.key, {}, 700, true)).map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    const newestLogouts = await queryAll(t.key, { action: 'user.logout' }, 300, true);
    expect(newestLogouts.map((e) => e.id)).toEqual(events.filter((e) => e.action === 'user.logout').map((e) => e.id).reverse());
    const newest = await rest(t.key, 'GET', '/v1/audit/events?action=user.logout&page_size=2&newest_first=true');
    const newestIds = events.filter((e) => e.action === 'user.logout').map((e) => e.id).reverse();
    expect(newest.body.events.map((e: { id: string }) => e.id)).toEqual(newestIds.slice(0, 2));
    const older = await rest(t.key, 'GET', `/v1/audit/events?action=user.logout&page_size=2&newest_first=true&cursor=${newest.body.nextCursor}`);
    expect(older.body.events.map((e: { id: string }) => e.id)).toEqual(newestIds.slice(2, 4));
    const mixed = await rest(t.key, 'GET', `/v1/audit/events?action=user.logout&page_size=2&cursor=${newest.body.nextCursor}`);
    expect(mixed.status).toBe(400);
  }, 120_000);

  it('binds a cursor to its filter, and refuses bad input with what to fix', async () => {
    const t = await tenant();
    await publishSettled(t, [{ id: 'c-1' }, { id: 'c-2' }]);
    const page = await query(t.key, { filter: { action: 'test.event' }, pageSize: 1 });
    const misuse = await query(t.key, { filter: { action: 'other' }, cursor: page.body.nextCursor });
    expect(misuse).toEqual({ status: 400, body: { code: 'invalid_argument', message: 'cursor belongs to a query with another filter or order: repeat that query, or start again without a cursor' } });
    expect((await query(t.key, { cursor: 'garbage!' })).body.message).toBe('cursor is not one this service gave: pass next_cursor unchanged, or none to start from the beginning');
    expect((await query(t.key, { pageSize: 1001 })).body.message).toBe('page_size must be 1 to 1000 (got 1001)');
    expect((await query(t.key, { filter: { action: 'a', actionPrefix: 'b' } })).body.message).toBe('give filter.action or filter.action_prefix, not both');
    expect((await query(t.key, { filter: { outcome: 'maybe' } })).body.message).toBe('filter.outcome must be one of success, failure, unknown (got "maybe")');
    expect((await query(t.key, { filter: { outcome: 'success', outcomes: ['failure'] } })).body.message).toBe('give filter.outcome or filter.outcomes, not both');
    expect((await query(t.key, { filter: { outcomes: ['failure', 'maybe'] } })).body.message).toBe('filter.outcomes[1] must be one of success, failure, unknown (got "maybe")');
    expect((await connectJson(t.key, 'AuditLogService', 'GetEvent', { id: 'nope' })).status).toBe(404);
  });

  it('shows chunks below the newest at once and the newest once settled, and never moves a cursor past one still being written', async () => {
    // Chunk numbers are taken one finished flush at a time: every chunk below the newest is final.
    const store = await connectStore(stack.mongodbUri, `late_${randomUUID().slice(0, 8)}`);
    try {
      const log = new AuditLog(store.db, store.collections, { chunksPerPartition: 4, settleMs: 2_000, scanBudget: 10_000, cacheEvents: 0 });
      const event = (id: string) => ({ id, occurredAt: new Date(), receivedAt: new Date(), action: 'late.test', outcome: 'unknown' as const });
      const chunk = (n: number, id: string) => ({ n, firstSeq: n + 1, lastSeq: n + 1, at: new Date(), destinations: [], events: [event(id)], seqs: [n + 1] });
      // Two flushes took chunks 0 and 1; the second is still writing its chunk.
      await store.collections.tenants.insertOne({ _id: 't', seq: 2, chunks: 2, destinations: [] });
      await log.write('t', [chunk(0, 'first')]);
      const early = await log.page('t', {}, { seq: 0 }, 100);
      expect(early).toEqual({ events: [expect.objectContaining({ id: 'first', seq: 1 })], next: { seq: 1, chunk: 1 }, more: false });
      await log.write('t', [chunk(1, 'second')]);
      // The newest chunk shows once it has settled: its flush may still be taking repeats out of it.
      expect(await log.page('t', {}, early.next, 100)).toEqual({ events: [], next: { seq: 1, chunk: 1 }, more: false });
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      const settled = await log.page('t', {}, early.next, 100);
      expect(settled.events.map((e) => e.id)).toEqual(['second']);
      expect(settled.next).toEqual({ seq: 2, chunk: 2 });
    } finally {
      await store.db.dropDatabase();
      await store.close();
    }
  });

  it('shows one tenant nothing of another, and answers only keys with the read scope', async () => {
    const a = await tenant();
    const b = await tenant();
    await publishSettled(a, [{ id: 'a-secret-1' }]);
    expect((await queryAll(b.key)).map((e) => e.id)).not.toContain('a-secret-1');
    expect((await connectJson(b.key, 'AuditLogService', 'GetEvent', { id: 'a-secret-1' })).status).toBe(404);
    expect((await rest(b.key, 'GET', '/v1/audit/events/a-secret-1')).status).toBe(404);
    const publishOnly = (await admin('keys', 'create', '--tenant', a.id, '--scopes', 'publish')).split('\n')[0];
    expect(await query(publishOnly, {})).toEqual({ status: 403, body: { code: 'permission_denied', message: 'this API key may not read the audit log (its scopes: publish)' } });
    const readOnly = (await admin('keys', 'create', '--tenant', a.id, '--scopes', 'read')).split('\n')[0];
    expect((await query(readOnly, {})).body.events.map((e: { id: string }) => e.id)).toContain('a-secret-1');
    expect((await connectJson(readOnly, 'AuditLogService', 'UpdateRetention', { days: 30 })).status).toBe(403);
  });
});

describe('retention', () => {
  const runRetention = async (now: number) => {
    const client = await temporalClient();
    const handle = await client.workflow.start('retentionWorkflow', { taskQueue: 'auditstream-delivery', workflowId: `retention-test-${randomUUID()}`, args: [{ now }] });
    return handle.result();
  };

  it('deletes exactly the expired events, nothing under a legal hold, and shows its next and last run', async () => {
    const kept = await tenant();
    const held = await tenant();
    for (const t of [kept, held]) {
      await publishSettled(t, [{ id: 'old-1' }, { id: 'old-2' }, { id: 'old-3' }]);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const between = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const t of [kept, held]) await publishSettled(t, [{ id: 'new-1' }, { id: 'new-2' }]);

    expect((await rest(kept.key, 'PATCH', '/v1/audit/retention', { days: 0 })).body.message).toBe('retention days must be a whole number from 1 to 3650 (got 0)');
    expect((await rest(kept.key, 'PATCH', '/v1/audit/retention', { days: 3651 })).status).toBe(400);
    const updated = await rest(kept.key, 'PATCH', '/v1/audit/retention', { days: 1 });
    expect(updated.body.retention).toMatchObject({ days: 1, legalHold: false });
    expect(Date.parse(updated.body.retention.nextRunAt)).toBeGreaterThan(Date.now() - 5_000);
    await rest(held.key, 'PATCH', '/v1/audit/retention', { days: 1, legal_hold: true });

    // A tenant with nothing expired: its run says so too.
    const fresh = await tenant();
    await publishSettled(fresh, [{ id: 'fresh-1' }]);

    // As if the job ran one day after `between`: the first three events of each tenant are past 1 day.
    await runRetention(between + 86_400_000);
    expect((await queryAll(kept.key)).map((e) => e.id).filter((id) => !id.startsWith('auditstream-'))).toEqual(['new-1', 'new-2']);
    expect((await connectJson(kept.key, 'AuditLogService', 'GetEvent', { id: 'old-1' })).status).toBe(404);
    expect((await queryAll(held.key)).map((e) => e.id).filter((id) => !id.startsWith('auditstream-'))).toEqual(['old-1', 'old-2', 'old-3', 'new-1', 'new-2']);
    const keptRetention = (await rest(kept.key, 'GET', '/v1/audit/retention')).body.retention;
    expect(keptRetention.lastRun).toMatchObject({ deleted: expect.stringMatching(/^\d+$/), held: false });
    expect(Number(keptRetention.lastRun.deleted)).toBeGreaterThanOrEqual(3);
    expect((await rest(held.key, 'GET', '/v1/audit/retention')).body.retention.lastRun).toMatchObject({ deleted: '0', held: true });
    // Every run is in each tenant's log: what it deleted, or that a hold stopped it.
    const applied = async (t: TestTenant) => (await eventually(() => queryAll(t.key, { action: 'audit.retention.applied' }), (found) => found.length > 0, 10_000))[0];
    expect(await applied(kept)).toMatchObject({ actor: { type: 'service' }, metadata: { legalHold: false, days: 1 } });
    expect((await applied(kept)).metadata.deletedEvents).toBeGreaterThanOrEqual(3);
    expect(await applied(held)).toMatchObject({ metadata: { legalHold: true, deletedEvents: 0 } });
    expect(await applied(fresh)).toMatchObject({ metadata: { legalHold: false, deletedEvents: 0 } });
    // The change of retention is itself in the log, with who made it: recorded before the
    // update answered, shown once settled (1 s in the suite, which the steps above may not take).
    const changes = await eventually(() => queryAll(kept.key, { action: 'audit.retention.updated' }), (found) => found.length > 0, 10_000);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ actor: { type: 'api_key' }, metadata: { days: 1, previousDays: 365 } });
  }, 60_000);

  it('is a Temporal Schedule that runs the job', async () => {
    const client = await temporalClient();
    const schedule = await client.schedule.getHandle('auditstream-retention').describe();
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow' });
    expect(schedule.info.nextActionTimes.length).toBeGreaterThan(0);
  });
});

describe('exports', () => {
  const awaitReady = (key: string, id: string) =>
    eventually(async () => (await connectJson(key, 'AuditLogService', 'GetExport', { id })).body.export, (e) => e.state === 'ready' || e.state === 'failed', 60_000);

  it('writes the filter’s events as gzip NDJSON whose count and SHA-256 the download proves', async () => {
    const t = await tenant();
    const events = Array.from({ length: 3_000 }, (_, i) => ({ id: `x-${i}`, action: i % 2 ? 'doc.read' : 'doc.write', actor: { id: 'u-1', name: 'Ada' } }));
    for (let i = 0; i < events.length; i += 1000) await publishSettled(t, events.slice(i, i + 1000));
    const created = await rest(t.key, 'POST', '/v1/audit/exports', { filter: { action: 'doc.read' }, format: 'ndjson', gzip: true });
    expect(created.status).toBe(201);
    expect(created.body.export).toMatchObject({ state: 'pending', format: 'ndjson', gzip: true });
    const ready = await awaitReady(t.key, created.body.export.id);
    expect(ready).toMatchObject({ state: 'ready', eventCount: '1500', downloadPath: `/v1/audit/exports/${created.body.export.id}/download` });

    const download = await fetch(`${stack.httpUrl}${ready.downloadPath}`, { headers: { authorization: `Bearer ${t.key}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/gzip');
    expect(download.headers.get('x-auditstream-event-count')).toBe('1500');
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(String(bytes.length)).toBe(ready.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ready.sha256);
    expect(download.headers.get('digest')).toBe(`sha-256=${createHash('sha256').update(bytes).digest('base64')}`);
    const lines = gunzipSync(bytes).toString('utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
    const queried = await queryAll(t.key, { action: 'doc.read' });
    expect(lines).toHaveLength(queried.length);
    expect(lines.map((e) => e.id)).toEqual(queried.map((e) => e.id));
    expect(lines[0]).toMatchObject({ id: 'x-1', action: 'doc.read', actor: { id: 'u-1', name: 'Ada' } });
    // The export is in the log too (its end as the worker saw it, relayed within seconds).
    const logged = await eventually(async () => (await queryAll(t.key, { actionPrefix: 'audit.export.' })).map((e) => e.action), (actions) => actions.length === 2);
    expect(logged).toEqual(['audit.export.created', 'audit.export.ready']);
  }, 120_000);

  it('writes CSV with a header and formula-looking cells escaped; another tenant can neither read nor download it', async () => {
    const t = await tenant();
    await publishSettled(t, [{ id: 'csv-1', action: 'doc.share', actor: { id: '=HYPERLINK("http://x")', name: 'Eve, the "tester"' } }]);
    const created = await connectJson(t.key, 'AuditLogService', 'CreateExport', { filter: { action: 'doc.share' }, format: 'csv' });
    const ready = await awaitReady(t.key, created.body.export.id);
    const download = await fetch(`${stack.httpUrl}${ready.downloadPath}`, { headers: { authorization: `Bearer ${t.key}` } });
    const text = await download.text();
    const [header, row] = text.trimEnd().split('\r\n');
    expect(header).toBe('id,occurred_at,received_at,action,outcome,actor_type,actor_id,actor_name,actor_ip,actor_user_agent,resource_type,resource_id,resource_name,request_id,metadata');
    expect(row).toMatch(/^csv-1,[^,]+,[^,]+,doc\.share,unknown,,"'=HYPERLINK\(""http:\/\/x""\)","Eve, the ""tester""",/);

    const other = await tenant();
    expect((await connectJson(other.key, 'AuditLogService', 'GetExport', { id: ready.id })).status).toBe(404);
    expect((await fetch(`${stack.httpUrl}${ready.downloadPath}`, { headers: { authorization: `Bearer ${other.key}` } })).status).toBe(404);
    expect((await fetch(`${stack.httpUrl}${ready.downloadPath}`)).status).toBe(401);
    expect((await rest(other.key, 'GET', '/v1/audit/exports')).body.exports).toEqual([]);
  }, 60_000);

  it('writes CSV that a standard reader reads back cell for cell, with no cell a spreadsheet would run as a formula', async () => {
    const t = await tenant();
    // Names as an attacker would write them: formulas, behind a CR or a tab, new lines, quotes.
    const names = ['\r=1+1', '=SUM(A1:A9)', '+1', '-1', '@SUM(1)', '\t=1', 'a\nb', 'line\r\nbreak', 'say "hi", twice', '\n=2+2', 'plain'];
    await publishSettled(t, names.map((name, i) => ({ id: `cell-${i}`, action: 'doc.cells', actor: { id: `u-${i}`, name } })));
    const created = await connectJson(t.key, 'AuditLogService', 'CreateExport', { filter: { action: 'doc.cells' }, format: 'csv' });
    const ready = await awaitReady(t.key, created.body.export.id);
    const text = await (await fetch(`${stack.httpUrl}${ready.downloadPath}`, { headers: { authorization: `Bearer ${t.key}` } })).text();
    // Read as a spreadsheet does: a CR, an LF or both end a row unless inside quotes.
    const rows: string[][] = parse(text, { record_delimiter: ['\r\n', '\n', '\r'] });
    expect(rows).toHaveLength(names.length + 1);
    const nameColumn = rows[0].indexOf('actor_name');
    // Each name comes back whole, in its own row; those a spreadsheet would run carry a leading quote.
    expect(rows.slice(1).map((row) => row[0])).toEqual(names.map((_, i) => `cell-${i}`));
    expect(rows.slice(1).map((row) => row[nameColumn])).toEqual(names.map((name) => (/^[=+\-@\t\r]/.test(name) ? `'${name}` : name)));
    for (const row of rows) for (const cell of row) expect(/^[=+\-@\t\r]/.test(cell), `a cell a spreadsheet would run: ${JSON.stringify(cell)}`).toBe(false);
  }, 60_000);
});

describe('the service audits itself', () => {
  it("writes a destination's failure into the log and streams it to the tenant's other destination, never to itself", async () => {
    const t = await tenant();
    const { id: watcherId, receiver: watcher } = await t.addWebhook();
    const { id: failingId, receiver: failing, secret } = await t.addWebhook();
    failing.respondWith(() => ({ status: 503, body: 'down' }));
    await t.publish([{ id: 'trigger-1' }]);
    await t.waitForDestination(failingId, (d) => d.status === 'degraded');

    // The watcher learns that the other stream broke, with the reason and the time left.
    const statusEvents = await eventually(
      async () => watcher.accepted.flatMap((delivery) => delivery.events).filter((e) => e.action === 'siem.destination.degraded'),
      (found) => found.length > 0,
    );
    expect(statusEvents[0]).toMatchObject({
      actor: { type: 'service', id: 'auditstream' },
      resource: { type: 'siem_destination', id: failingId },
      outcome: 'failure',
      metadata: { provider: 'webhook', status: 'degraded', previousStatus: 'active', reason: 'webhook answered HTTP 503: down' },
    });
    expect(statusEvents[0].metadata?.secondsUntilDropped).toBeGreaterThan(0);

    failing.respondWith(() => ({ status: 200 }));
    await t.waitForDestination(failingId, (d) => d.status === 'active');
    await eventually(async () => watcher.accepted.flatMap((d) => d.events).some((e) => e.action === 'siem.destination.recovered'), Boolean);
    // The failing destination never got its own status events (they would have kept it failing).
    expect(failing.accepted.flatMap((d) => d.events).filter((e) => e.resource?.id === failingId && !isCheckpoint(e))).toEqual([]);

    // Queryable like any event, with who did what: the creations by the API key, the changes by the service.
    const logged = await eventually(async () => queryAll(t.key, { actionPrefix: 'siem.destination.' }), (found) => found.some((e) => e.action === 'siem.destination.recovered'));
    expect(logged.map((e) => `${e.action} ${e.resource.id}`)).toEqual([
      `siem.destination.created ${watcherId}`,
      `siem.destination.created ${failingId}`,
      `siem.destination.degraded ${failingId}`,
      `siem.destination.recovered ${failingId}`,
    ]);
    expect(logged[0].actor).toMatchObject({ type: 'api_key', id: expect.stringMatching(/^ask_/) });
    const everything = JSON.stringify(logged);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(t.key);
  }, 60_000);
});

