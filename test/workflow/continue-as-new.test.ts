// Continue-as-new against scripted activities, on a dev server whose suggestion threshold is
// lowered to 20 history events: the workflow rolls over carrying its state, and a delete is
// answered within its deadline even while a roll-over is due and the store writes slowly.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tools } from '../../src/stack/local.js';
import type { DestinationSnapshot } from '../../workflows/state.js';
import { eventually } from '../support/wait.js';
import { range, settleExpected, withDestination } from './harness.js';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: tools.temporal },
      extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=20', '--headless'],
      log: { format: 'pretty', level: 'error' },
    },
  });
});
afterAll(async () => {
  await env?.teardown();
});

async function runsOf(workflowId: string): Promise<number> {
  let runs = 0;
  for await (const _ of env.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs++;
  return runs;
}

describe('continue-as-new', () => {
  it('rolls over many times while events stream, carrying backlog and counts', async () => {
    await withDestination(env, { deliver: async (input) => settleExpected(input) }, async ({ handle }) => {
      for (let i = 0; i < 30; i++) {
        await handle.signal('eventsReady', { ranges: [range(i * 10 + 1, i * 10 + 10, Date.now())] });
        await sleep(30);
      }
      const done = await eventually(() => handle.query('status') as Promise<DestinationSnapshot>, (s) => s.delivered === 300, 30_000);
      expect(done).toMatchObject({ status: 'active', backlogEvents: 0, dropped: 0 });
      expect(await eventually(() => runsOf(handle.workflowId), (n) => n >= 3, 10_000)).toBeGreaterThanOrEqual(3);
    });
  });

  it('answers a delete within its deadline while a roll-over is due and every store write takes 8 s', async () => {
    let slow = false;
    const slowly = async () => {
      if (slow) await sleep(8_000);
    };
    await withDestination(
      env,
      {
        deliver: async (input) => {
          await slowly();
          return settleExpected(input);
        },
        record: slowly,
      },
      async ({ handle }) => {
        for (let i = 0; i < 12; i++) {
          await handle.signal('eventsReady', { ranges: [range(i * 10 + 1, i * 10 + 10, Date.now())] });
          await sleep(30);
        }
        await eventually(() => handle.query('status') as Promise<DestinationSnapshot>, (s) => s.delivered === 120, 30_000);
        slow = true;
        await handle.signal('eventsReady', { ranges: [range(121, 130, Date.now())] });
        await sleep(500); // the delivery of 121..130 is under way, writing slowly
        const asked = Date.now();
        const result = await handle.executeUpdate('delete', { args: [{ flushDeadlineMs: 3_000 }] });
        const answeredAfterMs = Date.now() - asked;
        expect(answeredAfterMs).toBeLessThan(3_000 + 5_000);
        expect((result as { flushed: number; dropped: number }).flushed + (result as { dropped: number }).dropped).toBe(10);
        await eventually(async () => (await handle.describe()).status.name, (s) => s === 'COMPLETED', 30_000);
      },
    );
  });
});
