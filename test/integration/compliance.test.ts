// The compliance presets, each file checked field by field: soc2 (an audit period with a
// delivery report per destination), hipaa (who/what/when/where/outcome as CSV, an access
// report for one record, and the six-year retention floor), gdpr-access (one data subject,
// everyone else pseudonymised, the recipients listed).
import { describe, expect, it } from 'vitest';
import { checkExport } from '../../src/completeness/manifest.js';
import { parseVerifierKey } from '../../src/completeness/note.js';
import { connectJson, rest, stack } from '../support/clients.js';
import { tenantsOfThisFile, type TestTenant } from '../support/tenant.js';
import { eventually } from '../support/wait.js';

const tenant = tenantsOfThisFile();

const settle = () => new Promise((resolve) => setTimeout(resolve, 1_200));

async function exportFile(t: TestTenant, body: object): Promise<{ job: any; text: string }> {
  const created = await rest(t.key, 'POST', '/v1/audit/exports', body);
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const job = await eventually(async () => (await rest(t.key, 'GET', `/v1/audit/exports/${created.body.export.id}`)).body.export, (e) => e.state === 'ready' || e.state === 'failed', 60_000);
  expect(job.state).toBe('ready');
  const download = await fetch(`${stack.httpUrl}${job.downloadPath}`, { headers: { authorization: `Bearer ${t.key}` } });
  const bytes = Buffer.from(await download.arrayBuffer());
  // Every preset's file comes with its signed manifest, and matches it.
  const keys = ((await (await fetch(`${stack.httpUrl}/.well-known/auditstream/signing-keys`)).json()) as { keys: { verifierKey: string }[] }).keys.map((key) => parseVerifierKey(key.verifierKey));
  const checked = checkExport(bytes, job.manifest, keys);
  expect(checked.problems).toEqual([]);
  expect(checked.manifest).toMatchObject({ tenantId: t.id, exportId: job.id, events: Number(job.eventCount), preset: job.preset, sha256: job.sha256 });
  return { job, text: bytes.toString('utf8') };
}

describe('compliance exports', () => {
  it('soc2: every event of the period, the service’s own included, after a delivery report per destination', async () => {
    const t = await tenant();
    const from = new Date(Date.now() - 1_000);
    const { id: steadyId } = await t.addWebhook();
    const { id: flakyId, receiver: flaky } = await t.addWebhook();
    flaky.respondWith(() => ({ status: 503, body: 'maintenance' }));
    await t.publish([{ id: 'soc2-1' }, { id: 'soc2-2' }]);
    await t.waitForDestination(flakyId, (d) => d.status === 'degraded');
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // an outage of over a second
    flaky.respondWith(() => ({ status: 200 }));
    await t.waitForDestination(flakyId, (d) => d.status === 'active');
    await eventually(async () => (await connectJson(t.key, 'AuditLogService', 'QueryEvents', { filter: { action: 'siem.destination.recovered' } })).body.events?.length ?? 0, (n) => n === 1);
    await settle();
    const to = new Date();

    expect((await rest(t.key, 'POST', '/v1/audit/exports', { preset: 'soc2' })).body.message).toBe(
      'the soc2 preset exports an audit period: give filter.occurred_after and filter.occurred_before',
    );
    const { job, text } = await exportFile(t, { preset: 'soc2', filter: { occurred_after: from.toISOString(), occurred_before: to.toISOString() } });
    expect(job).toMatchObject({ preset: 'soc2', format: 'ndjson' });
    const [report, ...events] = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(report).toMatchObject({ record: 'report', preset: 'soc2', period: { from: from.toISOString(), to: to.toISOString() } });
    const flakyReport = report.destinations.find((d: { destinationId: string }) => d.destinationId === flakyId);
    expect(flakyReport).toMatchObject({ provider: 'webhook', status: 'active', counters: { delivered: 2, dropped: 0, rejected: 0 } });
    expect(flakyReport.statusChanges.map((change: { status: string }) => change.status)).toEqual(['degraded', 'active']);
    expect(flakyReport.statusChanges[0].reason).toBe('webhook answered HTTP 503: maintenance');
    expect(flakyReport.outages).toHaveLength(1);
    expect(flakyReport.longestOutageSeconds).toBeGreaterThanOrEqual(1);
    expect(report.destinations.find((d: { destinationId: string }) => d.destinationId === steadyId)).toMatchObject({ outages: [], longestOutageSeconds: 0 });
    // The events: the tenant's and the service's own, each marked, exactly as counted.
    expect(events.every((event) => event.record === 'event')).toBe(true);
    expect(events.map((event) => event.id)).toEqual(expect.arrayContaining(['soc2-1', 'soc2-2']));
    expect(events.map((event) => event.action)).toEqual(expect.arrayContaining(['siem.destination.created', 'siem.destination.degraded', 'siem.destination.recovered']));
    expect(Number(job.eventCount)).toBe(events.length);
  }, 60_000);

  it('hipaa: who, what, when, where and outcome as CSV, an access report for one record, and a six-year retention floor', async () => {
    const t = await tenant();
    await t.publish([
      { id: 'h-1', action: 'record.read', actor: { type: 'user', id: 'dr-who', name: 'Dr Who', ip: '203.0.113.7', user_agent: 'EHR/2' }, resource: { type: 'patient_record', id: 'rec-42', name: 'Chart 42' }, outcome: 'success' },
      { id: 'h-2', action: 'record.update', actor: { type: 'user', id: 'nurse-1' }, resource: { type: 'patient_record', id: 'rec-42' }, outcome: 'failure' },
      { id: 'h-3', action: 'record.read', actor: { type: 'user', id: 'dr-who' }, resource: { type: 'patient_record', id: 'rec-7' } },
    ] as never);
    await settle();
    const { text } = await exportFile(t, { preset: 'hipaa', filter: { resource_id: 'rec-42' } });
    const [header, ...rows] = text.trimEnd().split('\r\n');
    expect(header).toBe('when,who_type,who_id,who_name,what_action,what_resource_type,what_resource_id,what_resource_name,where_ip,where_user_agent,outcome,event_id,request_id');
    expect(rows).toHaveLength(2); // who touched record 42
    expect(rows[0]).toMatch(/^[0-9T:.Z-]+,user,dr-who,Dr Who,record\.read,patient_record,rec-42,Chart 42,203\.0\.113\.7,EHR\/2,success,h-1,$/);
    expect(rows[1]).toMatch(/,user,nurse-1,,record\.update,patient_record,rec-42,,,,failure,h-2,$/);
    expect((await rest(t.key, 'POST', '/v1/audit/exports', { preset: 'hipaa', format: 'ndjson' })).body.message).toBe('the hipaa preset is csv; leave format out');

    const refused = await rest(t.key, 'PATCH', '/v1/audit/retention', { hipaa: true, days: 365 });
    expect(refused).toEqual({
      status: 400,
      body: { code: 'failed_precondition', message: 'HIPAA needs audit records kept six years (§164.316(b)(2)): with hipaa on, retention days must be at least 2190 (got 365)' },
    });
    expect((await rest(t.key, 'PATCH', '/v1/audit/retention', { hipaa: true, days: 2190 })).body.retention).toMatchObject({ hipaa: true, days: 2190 });
    expect((await rest(t.key, 'PATCH', '/v1/audit/retention', { days: 2000 })).body.code).toBe('failed_precondition');
    expect((await rest(t.key, 'PATCH', '/v1/audit/retention', { hipaa: false, days: 30 })).body.retention).toMatchObject({ hipaa: false, days: 30 });
  }, 60_000);

  it('gdpr-access: one data subject’s events, everyone else pseudonymised, and the recipients', async () => {
    const t = await tenant();
    const { id: destinationId, receiver } = await t.addWebhook();
    await t.publish([
      { id: 'g-1', action: 'user.login', actor: { type: 'user', id: 'subject-1', name: 'Sam Subject', ip: '198.51.100.4' } },
      { id: 'g-2', action: 'user.viewed', actor: { type: 'user', id: 'admin-9', name: 'Alex Admin', ip: '203.0.113.9' }, resource: { type: 'user', id: 'subject-1', name: 'Sam Subject' } },
      { id: 'g-3', action: 'doc.shared', actor: { type: 'user', id: 'subject-1' }, resource: { type: 'user', id: 'friend-2', name: 'Fran Friend' } },
      { id: 'g-4', action: 'user.login', actor: { type: 'user', id: 'someone-else' } },
    ] as never);
    await receiver.waitForEvents(4);
    await settle();
    expect((await rest(t.key, 'POST', '/v1/audit/exports', { preset: 'gdpr-access' })).body.message).toBe('the gdpr-access preset exports one data subject: give filter.subject_id');
    const { job, text } = await exportFile(t, { preset: 'gdpr-access', filter: { subject_id: 'subject-1' } });
    const [report, ...events] = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(report).toMatchObject({ record: 'report', preset: 'gdpr-access', subjectId: 'subject-1', events: 3 });
    expect(report.recipients).toEqual([
      { destinationId, name: expect.any(String), provider: 'webhook', recipient: new URL(receiver.url).host, from: expect.any(String), to: null },
    ]);
    expect(events.map((event) => event.id)).toEqual(['g-1', 'g-2', 'g-3']);
    expect(Number(job.eventCount)).toBe(3);
    // The subject stays themself; the admin and the friend become pseudonyms, the same in every event.
    expect(events[0].actor).toEqual({ type: 'user', id: 'subject-1', name: 'Sam Subject', ip: '198.51.100.4' });
    expect(events[1].resource).toEqual({ type: 'user', id: 'subject-1', name: 'Sam Subject' });
    expect(events[1].actor.id).toMatch(/^pseudonym_[0-9a-f]{16}$/);
    expect(events[1].actor.name).toMatch(/^pseudonym_[0-9a-f]{16}$/);
    expect(events[1].actor.ip).toMatch(/^pseudonym_[0-9a-f]{16}$/);
    expect(events[2].resource.id).toMatch(/^pseudonym_[0-9a-f]{16}$/);
    expect(text).not.toContain('admin-9');
    expect(text).not.toContain('Alex Admin');
    expect(text).not.toContain('Fran Friend');
    expect(text).not.toContain('someone-else');
  }, 60_000);
});
