// GET /metrics as Prometheus scrapes it, while a destination fails and recovers: the
// counters, the backlog and time-left gauges an alert would fire on, and no unbounded label.
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, stack } from '../support/clients.js';
import { newTenant, type TestTenant } from '../support/tenant.js';
import { eventually } from '../support/wait.js';

const tenants: TestTenant[] = [];
afterAll(async () => {
  await Promise.all(tenants.map((t) => t.close()));
  await closeClients();
});

/** One scrape, as samples: `name{labels}` → value. */
async function scrape(): Promise<Map<string, number>> {
  const response = await fetch(`${stack.httpUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const sample = (samples: Map<string, number>, name: string) => samples.get(name) ?? 0;

describe('metrics', () => {
  it('show a destination failing — requests by outcome, backlog, its age, time left — and the events delivered once it recovers', async () => {
    const t = await newTenant();
    tenants.push(t);
    const before = await scrape();
    const { id, receiver } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish([{ id: 'm-1' }, { id: 'm-2' }, { id: 'm-3' }]);
    await t.waitForDestination(id, (d) => d.status === 'degraded' && d.backlog.events === '3');

    const failing = await scrape();
    // Nothing the API depends on is down in the suite.
    for (const dependency of ['store', 'temporal', 'worker']) expect(sample(failing, `auditstream_dependency_up{dependency="${dependency}"}`)).toBe(1);
    expect(sample(failing, 'auditstream_events_ingested_total')).toBeGreaterThanOrEqual(sample(before, 'auditstream_events_ingested_total') + 3);
    expect(sample(failing, 'auditstream_delivery_requests_total{provider="webhook",outcome="retry"}')).toBeGreaterThan(
      sample(before, 'auditstream_delivery_requests_total{provider="webhook",outcome="retry"}'),
    );
    expect(sample(failing, 'auditstream_destinations{provider="webhook",status="degraded"}')).toBeGreaterThanOrEqual(1);
    expect(sample(failing, 'auditstream_backlog_events{provider="webhook"}')).toBeGreaterThanOrEqual(3);
    expect(sample(failing, 'auditstream_backlog_oldest_event_age_seconds{provider="webhook"}')).toBeGreaterThan(0);
    // The least time left over every failing webhook destination of the service (others of the suite's included).
    expect(failing.has('auditstream_retry_window_remaining_seconds{provider="webhook"}')).toBe(true);
    const left = sample(failing, 'auditstream_retry_window_remaining_seconds{provider="webhook"}');
    const ownLeft = (Date.parse((await t.destination(id)).backlog.windowEndsAt) - Date.now()) / 1000;
    expect(left).toBeGreaterThanOrEqual(0);
    expect(left).toBeLessThanOrEqual(ownLeft + 1);

    receiver.respondWith(() => ({ status: 200 }));
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '3', 30_000);
    const recovered = await eventually(scrape, (samples) =>
      sample(samples, 'auditstream_events_delivered_total{provider="webhook"}') >= sample(failing, 'auditstream_events_delivered_total{provider="webhook"}') + 3,
    );
    expect(sample(recovered, 'auditstream_delivery_requests_total{provider="webhook",outcome="ok"}')).toBeGreaterThan(0);
    expect(sample(recovered, 'auditstream_delivery_lag_seconds_count{provider="webhook"}')).toBeGreaterThanOrEqual(3);
    expect(sample(recovered, 'auditstream_delivery_request_duration_seconds_count{provider="webhook"}')).toBeGreaterThan(0);
    expect(sample(recovered, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    // Bounded labels only: no tenant or destination id in any series.
    const names = [...recovered.keys()].join('\n');
    expect(names).not.toContain(t.id);
    expect(names).not.toContain(id);
  }, 60_000);
});
