// The real 24-hour retry window under Temporal's time-skipping test server: a day passes
// in seconds while deliveries go over real HTTPS to a receiver and events live in FerretDB.
import { create } from '@bufbuild/protobuf';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateDestinationRequestSchema } from '../../src/gen/auditstream/v1/destinations_pb.js';
import type { AuditEvent } from '../../src/model.js';
import { tools } from '../../src/stack/local.js';
import { eventually, stack } from '../support/clients.js';
import { callerOf, inProcessPipeline, type Pipeline } from '../support/pipeline.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

let env: TestWorkflowEnvironment;
let pipeline: Pipeline;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: tools.temporalTestServer } },
  });
  // The default policy (a 24 h window, backoff capped at 5 min), but idle destinations' checkpoints
  // a month apart, not hourly: with the earlier tests' idle workflows each keeping an hourly
  // checkpoint timer, the third test never got past its first simulated hour on the
  // time-skipping server (measured: stuck until its 180 s timeout; 10 s with this). The hourly
  // idle checkpoint has tests of its own (test/workflow/checkpoints.test.ts).
  pipeline = await inProcessPipeline(env, { checkpointIdleMs: 30 * 24 * 3600_000 });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await pipeline?.close();
  await env?.teardown();
});

const events = (prefix: string, n: number): AuditEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    occurredAt: new Date(),
    receivedAt: new Date(),
    action: 'window.test',
    outcome: 'unknown',
  }));

async function failingDestination(tenantId: string) {
  const receiver = await startWebhookReceiver(stack.pki, 'window-secret');
  receivers.push(receiver);
  receiver.respondWith(() => ({ status: 503, body: 'down for maintenance' }));
  const { destination } = await pipeline.destinations.create(
    callerOf(tenantId),
    create(CreateDestinationRequestSchema, { provider: 'webhook', endpoint: receiver.url, secret: 'window-secret' }),
  );
  return { id: destination!.id, receiver };
}

const status = (id: string) => pipeline.workflows.status(id);
const mirrorOf = (id: string) => pipeline.store.collections.deliveryStates.findOne({ _id: id });

describe('the 24-hour retry window (time-skipping server)', () => {
  it('goes degraded, then failed 24 h after the first failure, dropping exactly what was buffered', async () => {
    await pipeline.withWorker(async () => {
      const { id, receiver } = await failingDestination('tenant-always-down');
      await pipeline.publisher.publish('tenant-always-down', events('down', 7));
      const degraded = await eventually(() => status(id), (s) => s.status === 'degraded');
      expect(degraded.windowEndsAt! - degraded.oldestEventAt!).toBeGreaterThan(23.9 * 3600_000);

      await env.sleep('23h');
      expect(await status(id)).toMatchObject({ status: 'degraded', backlogEvents: 7, dropped: 0 });
      const attemptsInADay = receiver.attempts;
      expect(attemptsInADay).toBeGreaterThan(200); // backing off, capped at 5 min

      await env.sleep('2h');
      const failed = await status(id);
      expect(failed).toMatchObject({ status: 'failed', backlogEvents: 0, dropped: 7, delivered: 0 });
      expect(failed.statusReason).toMatch(/^retries exhausted: .*7 buffered events dropped/);
      const mirrored = await eventually(() => mirrorOf(id), (doc) => doc?.status === 'failed');
      expect(mirrored!.counters.dropped).toBe(7);
      // The tenant's log is told (here no API relays the notices): degraded, then failed with what it dropped.
      const notices = await pipeline.store.collections.serviceEvents.find({ tenantId: 'tenant-always-down' }).toArray();
      expect(notices.map((notice) => notice.event)).toEqual([
        expect.objectContaining({ action: 'siem.destination.created' }),
        expect.objectContaining({ action: 'siem.destination.degraded', resource: expect.objectContaining({ id }) }),
        expect.objectContaining({ action: 'siem.destination.failed', actor: expect.objectContaining({ type: 'service' }), metadata: expect.objectContaining({ droppedEvents: 7 }) }),
      ]);

      const attemptsAtFailure = receiver.attempts;
      await env.sleep('3h');
      expect(receiver.attempts).toBe(attemptsAtFailure); // nothing more is sent
    });
  });

  it('delivers everything and returns to active when the destination recovers at hour 23', async () => {
    await pipeline.withWorker(async () => {
      const { id, receiver } = await failingDestination('tenant-recovers');
      await pipeline.publisher.publish('tenant-recovers', events('recover', 5));
      await eventually(() => status(id), (s) => s.status === 'degraded');
      await env.sleep('23h');
      receiver.respondWith(() => ({ status: 200 }));
      await env.sleep('10m');
      expect(await status(id)).toMatchObject({ status: 'active', delivered: 5, dropped: 0, backlogEvents: 0 });
      expect(new Set(receiver.acceptedEventIds()).size).toBe(5);
      await eventually(() => mirrorOf(id), (doc) => doc?.status === 'active' && doc.counters.delivered === 5);
    });
  });

  it('keeps the workflow state a few kilobytes through a long outage with many publishes', async () => {
    await pipeline.withWorker(async () => {
      const { id } = await failingDestination('tenant-long-outage');
      let published = 0;
      for (let hour = 0; hour < 20; hour++) {
        for (let call = 0; call < 5; call++) {
          await pipeline.publisher.publish('tenant-long-outage', events(`outage-${hour}-${call}`, 200));
          published += 200;
        }
        await env.sleep('1h');
      }
      const snapshot = await eventually(() => status(id), (s) => s.backlogEvents === published);
      expect(snapshot.status).toBe('degraded');
      expect(snapshot.pendingRanges).toBe(1);
      expect(snapshot.stateBytes).toBeLessThan(2_048);
    });
  }, 180_000);
});
