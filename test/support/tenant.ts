// A fresh tenant with its own key, webhook receivers and helpers, for one test.
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { closeClients, connectJson, eventually, issueKey, rest, stack, temporalClient } from './clients.js';
import { startWebhookReceiver, type WebhookReceiver } from './receiver.js';

export interface TestTenant {
  id: string;
  key: string;
  receivers: WebhookReceiver[];
  addWebhook(options?: { enabled?: boolean; filters?: unknown[] }): Promise<{ id: string; receiver: WebhookReceiver; secret: string }>;
  publish(events: ({ id?: string; action?: string } & Record<string, unknown>)[]): Promise<{ id: string; duplicate: boolean }[]>;
  destination(id: string): Promise<any>;
  waitForDestination(id: string, accept: (destination: any) => boolean, timeoutMs?: number): Promise<any>;
  workflowStatus(id: string): Promise<any>;
  close(): Promise<void>;
}

export async function newTenant(): Promise<TestTenant> {
  const id = `tenant-${randomUUID()}`;
  const key = await issueKey(id);
  const tenant: TestTenant = {
    id,
    key,
    receivers: [],
    async addWebhook(options = {}) {
      const secret = `secret-${randomUUID()}`;
      const receiver = await startWebhookReceiver(stack.pki, secret);
      tenant.receivers.push(receiver);
      const created = await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiver.url, secret, ...options });
      if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
      return { id: created.body.destination.id, receiver, secret };
    },
    async publish(events) {
      const response = await connectJson(key, 'EventService', 'PublishEvents', {
        events: events.map((event) => ({ action: 'test.event', ...event })),
      });
      if (response.status !== 200) throw new Error(`publish failed: ${JSON.stringify(response.body)}`);
      return response.body.results.map((r: { id: string; duplicate?: boolean }) => ({ id: r.id, duplicate: r.duplicate ?? false }));
    },
    async destination(destinationId) {
      return (await rest(key, 'GET', `/v1/audit/siem/${destinationId}`)).body.destination;
    },
    waitForDestination(destinationId, accept, timeoutMs = 30_000) {
      return eventually(() => tenant.destination(destinationId), accept, timeoutMs);
    },
    async workflowStatus(destinationId) {
      return (await temporalClient()).workflow.getHandle(`destination-${destinationId}`).query('status');
    },
    async close() {
      await Promise.all(tenant.receivers.map((receiver) => receiver.close()));
    },
  };
  return tenant;
}

/**
 * A maker of fresh tenants for one test file: after the file's tests, their receivers close,
 * and so do the file's clients.
 */
export function tenantsOfThisFile(): () => Promise<TestTenant> {
  const tenants: TestTenant[] = [];
  afterAll(async () => {
    await Promise.all(tenants.map((t) => t.close()));
    await closeClients();
  });
  return async () => {
    const t = await newTenant();
    tenants.push(t);
    return t;
  };
}
