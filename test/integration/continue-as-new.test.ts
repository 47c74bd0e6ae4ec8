// Long-lived workflows continue-as-new before their history grows large, carrying their
// state: a dev server with the suggestion threshold lowered to 60 history events makes a
// destination workflow roll over many times while events stream, and nothing is lost.
import { create } from '@bufbuild/protobuf';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateDestinationRequestSchema } from '../../src/gen/auditstream/v1/destinations_pb.js';
import type { AuditEvent } from '../../src/model.js';
import { tools } from '../../src/stack/local.js';
import { eventually, stack } from '../support/clients.js';
import { callerOf, inProcessPipeline, type Pipeline } from '../support/pipeline.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

let env: TestWorkflowEnvironment;
let pipeline: Pipeline;
let receiver: WebhookReceiver;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: tools.temporal },
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60', '--headless'],
      log: { format: 'pretty', level: 'error' },
    },
  });
  pipeline = await inProcessPipeline(env, { initialBackoffMs: 100, maxBackoffMs: 500 });
  receiver = await startWebhookReceiver(stack.pki, 'can-secret');
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await pipeline?.close();
  await env?.teardown();
});

const event = (id: string): AuditEvent => ({ id, occurredAt: new Date(), receivedAt: new Date(), action: 'can.test', outcome: 'unknown' });

describe('continue-as-new', () => {
  it('rolls over many times mid-stream, through failures, and delivers every event once', async () => {
    await pipeline.withWorker(async () => {
      const { destination } = await pipeline.destinations.create(
        callerOf('tenant-can'),
        create(CreateDestinationRequestSchema, { provider: 'webhook', endpoint: receiver.url, secret: 'can-secret' }),
      );
      const id = destination!.id;
      const handle = env.client.workflow.getHandle(`destination-${id}`);
      const firstRun = (await handle.describe()).runId;
      // Every seventh request fails, so state carried across runs includes failures and backlog.
      receiver.respondWith(({ attempt }) => (attempt % 7 === 0 ? { status: 503 } : { status: 200 }));
      const ids: string[] = [];
      for (let i = 0; i < 120; i++) {
        ids.push(`can-${i}`);
        await pipeline.publisher.publish('tenant-can', [event(`can-${i}`)]);
        await sleep(15);
      }
      await eventually(() => pipeline.workflows.status(id), (s) => s.delivered === 120 && s.backlogEvents === 0, 60_000);
      expect(new Set(receiver.acceptedEventIds())).toEqual(new Set(ids));
      expect(receiver.acceptedEventIds()).toHaveLength(ids.length);

      const runs = async () => {
        const seen = new Set<string>();
        for await (const execution of env.client.workflow.list({ query: `WorkflowId = "destination-${id}"` })) seen.add(execution.runId);
        return seen.size;
      };
      expect((await handle.describe()).runId).not.toBe(firstRun);
      expect(await eventually(runs, (count) => count >= 3, 10_000)).toBeGreaterThanOrEqual(3);
      const snapshot = await pipeline.workflows.status(id);
      expect(snapshot).toMatchObject({ status: 'active', delivered: 120, dropped: 0 });
    });
  }, 120_000);
});
