// Filters per destination on the real stack (CloudEvents Subscriptions API dialects): a
// destination receives exactly what its filters let through, and its counters account for
// exactly that; a change applies from the next event accepted, also to events still waiting
// when it is made; it is audited; bad filters are refused on every protocol with what to fix;
// a backfill replays only what the filters let through.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { connectJson, grpcClient, rest } from '../support/clients.js';
import { tenantsOfThisFile, type TestTenant } from '../support/tenant.js';
import { eventually } from '../support/wait.js';

const tenant = tenantsOfThisFile();

const actions = ['user.login', 'user.logout', 'doc.write'];
const outcomes = ['success', 'failure', 'unknown'];
/** Events of every action and outcome, by id. */
const mixed = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, action: actions[i % 3], outcome: outcomes[Math.floor(i / 3) % 3], actor: { type: i % 2 ? 'user' : 'service', id: `u-${i % 5}` } }));
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_200));
const ids = (events: { id: string }[]) => events.map((event) => event.id).sort();

async function auditedUpdates(t: TestTenant, destinationId: string) {
  const response = await connectJson(t.key, 'AuditLogService', 'QueryEvents', { filter: { action: 'siem.destination.updated', resourceId: destinationId } });
  return (response.body.events ?? []) as { metadata: Record<string, unknown> }[];
}

describe('destination filters', () => {
  it('sends a destination exactly what its filters let through, and counts exactly that', async () => {
    const t = await tenant();
    const filters = [{ prefix: { action: 'user.' } }, { not: { exact: { outcome: 'success' } } }];
    const filtered = await t.addWebhook({ filters });
    const unfiltered = await t.addWebhook();
    expect((await t.destination(filtered.id)).filters).toEqual(filters);
    expect((await t.destination(unfiltered.id)).filters).toEqual([]);

    const events = mixed('mix', 90);
    const results = await t.publish(events);
    const acknowledged = events.filter((_, i) => !results[i].duplicate);
    const meant = acknowledged.filter((event) => event.action.startsWith('user.') && event.outcome !== 'success');
    expect(meant.length).toBe(40);

    await unfiltered.receiver.waitForEvents(90);
    await filtered.receiver.waitForEvents(meant.length);
    const done = await t.waitForDestination(filtered.id, (d) => d.backlog.events === '0' && d.counters.delivered === String(meant.length));
    // Nothing more arrives late: the filtered destination got what it is meant to and no other event.
    await settle();
    expect(filtered.receiver.allAcceptedEventIds().sort()).toEqual(ids(meant));
    expect(done.counters).toEqual({ delivered: '40', dropped: '0', rejected: '0' });
    const received = new Set(filtered.receiver.acceptedEventIds());
    expect(meant.length).toBe(received.size + Number(done.counters.dropped) + Number(done.counters.rejected));
    expect(ids(events).filter((id) => unfiltered.receiver.acceptedEventIds().includes(id)).length).toBe(90);
  }, 60_000);

  it('applies a change from the next event accepted — to waiting events too — and audits it', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ filters: [{ exact: { action: 'keep' } }] });
    // The destination is down: what is accepted now waits.
    receiver.respondWith(() => ({ status: 503, body: 'down' }));
    const before = [...Array.from({ length: 5 }, (_, i) => ({ id: `before-keep-${i}`, action: 'keep' })), ...Array.from({ length: 5 }, (_, i) => ({ id: `before-other-${i}`, action: 'other' }))];
    await t.publish(before);
    await t.waitForDestination(id, (d) => d.status === 'degraded');

    const changed = await connectJson(t.key, 'DestinationService', 'UpdateDestination', { id, filters: [{ exact: { action: 'other' } }] });
    expect(changed.status).toBe(200);
    expect(changed.body.destination.filters).toEqual([{ exact: { action: 'other' } }]);
    const after = [...Array.from({ length: 5 }, (_, i) => ({ id: `after-keep-${i}`, action: 'keep' })), ...Array.from({ length: 5 }, (_, i) => ({ id: `after-other-${i}`, action: 'other' }))];
    await t.publish(after);
    receiver.respondWith(() => ({ status: 200 }));

    // Events accepted before the change go as the filters then said; those after, as now.
    const meant = [...before.filter((event) => event.action === 'keep'), ...after.filter((event) => event.action === 'other')];
    const done = await t.waitForDestination(id, (d) => d.backlog.events === '0' && d.counters.delivered === '10', 40_000);
    await settle();
    expect(receiver.allAcceptedEventIds().sort()).toEqual(ids(meant)); // every event (checkpoint records left out)
    expect(done.counters).toEqual({ delivered: '10', dropped: '0', rejected: '0' });

    const [audited] = await eventually(() => auditedUpdates(t, id), (found) => found.length === 1);
    expect(audited.metadata).toMatchObject({
      changed: ['filters'],
      filters: '[{"exact":{"action":"other"}}]',
      previousFilters: '[{"exact":{"action":"keep"}}]',
      effectiveAfterSeq: expect.any(Number),
    });

    // Back to every event: an empty list.
    const cleared = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { filters: [] });
    expect(cleared.body.destination.filters).toEqual([]);
    await t.publish([{ id: 'cleared-keep', action: 'keep' }, { id: 'cleared-other', action: 'something.else' }]);
    await t.waitForDestination(id, (d) => d.counters.delivered === '12');
  }, 90_000);

  it('refuses bad filters on REST, Connect and gRPC with what to fix, changing nothing', async () => {
    const t = await tenant();
    const { id } = await t.addWebhook({ filters: [{ exact: { outcome: 'failure' } }] });
    const listed = async () => (await rest(t.key, 'GET', '/v1/audit/siem')).body.destinations.length;

    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: 'https://127.0.0.1:9/hook', secret: 'a-long-shared-secret', filters: [{ exakt: { action: 'x' } }] });
    expect(created.status).toBe(400);
    expect(created.body).toEqual({ code: 'invalid_argument', message: 'filters[0]: "exakt" is not a filter dialect; use one of exact, prefix, suffix, all, any, not' });
    expect(await listed()).toBe(1);

    const patched = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { filters: [{ all: [{ prefix: { 'actor.kind': 'u' } }] }] });
    expect(patched.status).toBe(400);
    expect(patched.body.message).toBe(
      'filters[0].all[0].prefix: "actor.kind" is not a field a filter can name; use one of action, outcome, actor.type, actor.id, actor.name, resource.type, resource.id, resource.name',
    );
    const viaConnect = await connectJson(t.key, 'DestinationService', 'UpdateDestination', { id, filters: [{ exact: { action: 'a', outcome: 'failure' } }] });
    expect(viaConnect.body).toEqual({ code: 'invalid_argument', message: 'filters[0].exact: must name exactly one field (got 2); combine several with "all"' });

    const client = grpcClient('DestinationService', t.key);
    try {
      const filter = (fields: Record<string, unknown>) => ({ structValue: { fields } });
      const refusal = async (filters: unknown) => {
        const error = await client.call('UpdateDestination', { id, filters }).catch((e: grpc.ServiceError) => e);
        expect((error as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
        return decodeURIComponent((error as grpc.ServiceError).details);
      };
      expect(await refusal({ values: [filter({ exact: filter({ outcome: { stringValue: 'succes' } }) })] })).toBe(
        'filters[0].exact.outcome: an outcome is one of success, failure, unknown (got "succes")',
      );
      // A value with no kind, which only the binary encoding can carry.
      expect(await refusal({ values: [{}] })).toBe(
        'filters: google.protobuf.Value must have a value: set one of its kinds (struct_value for an expression, string_value for a value)',
      );
      // And read back over gRPC as it was set.
      const read = await client.call<{ destination: { filters: { values: unknown[] } } }>('GetDestination', { id });
      expect(read.destination.filters.values).toHaveLength(1);
    } finally {
      client.close();
    }
    expect((await t.destination(id)).filters).toEqual([{ exact: { outcome: 'failure' } }]);
    expect(await auditedUpdates(t, id)).toEqual([]);
  });

  it('replays into a destination only what its filters let through', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook({ filters: [{ exact: { outcome: 'failure' } }] });
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: false });
    const events = mixed('gap', 30);
    await t.publish(events);
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true });
    await settle();
    const meant = events.filter((event) => event.outcome === 'failure');

    const dry = await rest(t.key, 'POST', `/v1/audit/siem/${id}/backfills`, { gap: 'disabled', dry_run: true });
    expect(dry.body).toEqual({ count: String(meant.length) });
    const started = await rest(t.key, 'POST', `/v1/audit/siem/${id}/backfills`, { gap: 'disabled' });
    const job = await eventually(
      async () => (await rest(t.key, 'GET', `/v1/audit/siem/${id}/backfills/${started.body.backfill.id}`)).body.backfill,
      (b) => b.state !== 'running',
    );
    expect(job).toMatchObject({ state: 'done', total: String(meant.length), delivered: String(meant.length), rejected: '0' });
    const replayed = receiver.accepted.flatMap((delivery) => delivery.events).filter((event) => event.replay !== undefined);
    expect(ids(replayed)).toEqual(ids(meant));
  }, 60_000);
});
