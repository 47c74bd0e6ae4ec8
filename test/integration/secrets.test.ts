// Credentials are write-only: no response carries them, and MongoDB holds them encrypted.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, database, issueKey, rest } from '../support/clients.js';

afterAll(closeClients);

describe('credentials', () => {
  it('are never returned by any read or write API, and are encrypted at rest', async () => {
    const tenantId = `tenant-${randomUUID()}`;
    const key = await issueKey(tenantId);
    const first = `first-secret-${randomUUID()}`;
    const second = `second-secret-${randomUUID()}`;
    const responses: unknown[] = [];
    const keep = <T>(response: T) => {
      responses.push(response);
      return response;
    };

    const created = keep(await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: 'https://siem.example.com/hook', secret: first }));
    const id = created.body.destination.id;
    expect(created.body.destination.credentials.secret).toBe(`••••${first.slice(-4)}`);
    keep(await rest(key, 'GET', `/v1/audit/siem/${id}`));
    keep(await rest(key, 'GET', '/v1/audit/siem'));
    keep(await connectJson(key, 'DestinationService', 'GetDestination', { id }));
    keep(await connectJson(key, 'DestinationService', 'ListDestinations', {}));
    const updated = keep(await rest(key, 'PATCH', `/v1/audit/siem/${id}`, { secret: second }));
    expect(updated.body.destination.credentials.secret).toBe(`••••${second.slice(-4)}`);
    keep(await connectJson(key, 'DestinationService', 'UpdateDestination', { id, name: 'renamed' }));

    const everything = JSON.stringify(responses);
    for (const secret of [first, second]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(secret.slice(0, -4));
    }

    const raw = await (await database()).collection('destinations').findOne({ _id: id });
    const stored = JSON.stringify(raw);
    expect(stored).not.toContain(first);
    expect(stored).not.toContain(second);
    expect(raw!.credentials).toMatchObject({ keyVersion: expect.any(Number), nonce: expect.any(String), tag: expect.any(String) });
    await rest(key, 'DELETE', `/v1/audit/siem/${id}`);
  });
});
