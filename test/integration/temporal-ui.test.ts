// What an on-call engineer sees in the Temporal UI: a workflow per destination, found by
// its id or by tenant, provider and status; a summary; the current status in its details;
// the failing attempt's error in its history; and no secrets or event payloads anywhere.
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, eventually, historyText, rest, temporalClient } from '../support/clients.js';
import { newTenant } from '../support/tenant.js';
import { providerAttribute, statusAttribute, tenantAttribute } from '../../workflows/search-attributes.js';

afterAll(closeClients);

describe('Temporal UI', () => {
  it('tags, summarises and explains a destination workflow, without secrets or payloads', async () => {
    const t = await newTenant();
    const { id, receiver, secret } = await t.addWebhook();
    receiver.respondWith(() => ({ status: 502, body: 'bad gateway' }));
    await t.publish([{ id: 'ui-1', action: 'ui.secret-payload-marker' }]);
    await t.waitForDestination(id, (d) => d.status === 'degraded');

    const client = await temporalClient();
    const handle = client.workflow.getHandle(`destination-${id}`);
    const description = await eventually(
      () => handle.describe(),
      (d) => d.typedSearchAttributes.get(statusAttribute) === 'degraded',
    );
    expect(description.typedSearchAttributes.get(tenantAttribute)).toBe(t.id);
    expect(description.typedSearchAttributes.get(providerAttribute)).toBe('webhook');
    expect(await description.staticSummary()).toBe(`webhook destination ${id} of tenant ${t.id}`);

    const found: string[] = [];
    const query = `AuditTenant = "${t.id}" AND AuditStatus = "degraded"`;
    await eventually(
      async () => {
        found.length = 0;
        for await (const execution of client.workflow.list({ query })) found.push(execution.workflowId);
        return found;
      },
      (ids) => ids.includes(`destination-${id}`),
    );

    const history = await historyText(`destination-${id}`);
    expect(history).toContain('webhook answered HTTP 502: bad gateway');
    expect(history).toContain('deliver up to 1 events from seq');
    expect(history).not.toContain(secret);
    expect(history).not.toContain('ui.secret-payload-marker');

    // Deleted, the closed workflow says so: it is not listed as degraded any more.
    expect((await rest(t.key, 'DELETE', `/v1/audit/siem/${id}`)).status).toBe(200);
    await handle.result();
    const closed = await handle.describe();
    expect(closed.status.name).toBe('COMPLETED');
    expect(closed.typedSearchAttributes.get(statusAttribute)).toBe('deleted');
    await t.close();
  });
});
