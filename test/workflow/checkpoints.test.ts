// A destination's own sequence and its checkpoints, as the workflow keeps them: numbers given
// to each delivery, a checkpoint a minute while events flow and an hour when none do, one
// that failed sent again unchanged, and dropped events listed by sequence range.
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/wait.js';
import { failure, range, settleExpected, statusOf as status, testServerPerTest, withDestination } from './harness.js';

const testServer = testServerPerTest();
const now = () => testServer().currentTimeMs();

describe('destination sequence and checkpoints', () => {
  it('numbers each delivery on from the last, checkpoints a minute after events and an hour after none, and sends a failed checkpoint again unchanged', async () => {
    await withDestination(
      testServer(),
      {
        deliver: async (input) => settleExpected(input),
        sendCheckpoint: async (_, call) => {
          if (call === 1) throw failure('webhook answered HTTP 503');
        },
      },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 5, await now())] });
        await eventually(async () => (await status(handle)).delivered, (delivered) => delivered === 5);
        await handle.signal('eventsReady', { ranges: [range(6, 8, await now())] });
        await eventually(async () => (await status(handle)).delivered, (delivered) => delivered === 8);
        expect(scripted.deliveries.map((d) => d.stream.next)).toEqual([1, 6]);

        await testServer().sleep('2m');
        await eventually(async () => scripted.checkpoints.length, (n) => n >= 2, 20_000);
        const [failed, resent] = scripted.checkpoints;
        expect(failed.plan).toMatchObject({ n: 1, first: 1, last: 8, count: 8, dropped: [], rejected: [] });
        expect(resent.plan).toEqual(failed.plan);
        // The plan was mirrored before it was sent: a lost workflow's successor sends the same one.
        expect(failed.record.stream.unsent).toEqual(failed.plan);
        expect(await status(handle)).toMatchObject({ status: 'active' });

        await testServer().sleep('61m');
        await eventually(async () => scripted.checkpoints.length, (n) => n >= 3, 20_000);
        expect(scripted.checkpoints[2].plan).toMatchObject({ n: 2, first: 9, last: 8, count: 0, previous: 'hash-of-1' });
        await handle.signal('eventsReady', { ranges: [range(9, 9, await now())] });
        await eventually(async () => (await status(handle)).delivered, (delivered) => delivered === 9);
        expect(scripted.deliveries.at(-1)!.stream.next).toBe(9);
      },
    );
  });

  it('lists the events its retry window dropped in the next checkpoint, by their sequence numbers', async () => {
    let failing = true;
    await withDestination(
      testServer(),
      { deliver: async (input) => (failing ? Promise.reject(failure('webhook answered HTTP 500')) : settleExpected(input)) },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 7, await now())] });
        await testServer().sleep('25h');
        await eventually(async () => (await status(handle)).status, (s) => s === 'failed', 20_000);
        failing = false;
        await handle.executeUpdate('reconfigure', { args: [{ enabled: true }] });
        await handle.signal('eventsReady', { ranges: [range(8, 9, await now())] });
        await eventually(async () => (await status(handle)).delivered, (delivered) => delivered === 2);
        expect(scripted.deliveries.at(-1)!.stream.next).toBe(8); // the dropped took 1..7
        await testServer().sleep('2m');
        const plans = await eventually(async () => scripted.checkpoints.map((c) => c.plan), (list) => list.some((plan) => plan.last >= 9), 20_000);
        expect(plans.flatMap((plan) => plan.dropped)).toEqual([{ lo: 1, hi: 7 }]);
        expect(plans.reduce((sum, plan) => sum + plan.count, 0)).toBe(2);
        expect(plans.at(-1)).toMatchObject({ last: 9 });
      },
    );
  });
});
