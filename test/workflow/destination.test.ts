// The destination workflow's transitions — active → degraded → failed → re-enabled, deletes,
// settings that change, probes, holds — against scripted activities on Temporal's
// time-skipping test server: a day passes in seconds, and nothing else runs.
import { initialStream } from '../../src/completeness/stream.js';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/wait.js';
import type { DestinationSnapshot } from '../../workflows/state.js';
import { failure, misconfigured, policy24h, range, settleExpected, statusOf, testServerPerTest, untilCancelled, withDestination } from './harness.js';

const testServer = testServerPerTest();
const status = statusOf;
const until = (handle: Parameters<typeof statusOf>[0], accept: (s: DestinationSnapshot) => boolean) => eventually(() => status(handle), accept, 20_000);
/** Workflow time: the test server's clock runs ahead of the wall clock once time has been skipped. */
const now = () => testServer().currentTimeMs();

describe('destination workflow', () => {
  it('turns degraded on the first failed attempt, retries with probes, and is active again with every event counted once', async () => {
    await withDestination(
      testServer(),
      { deliver: async (input, call) => (call <= 3 ? Promise.reject(failure('webhook answered HTTP 503: maintenance')) : settleExpected(input)) },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 5, await now())] });
        const degraded = await until(handle, (s) => s.status === 'degraded');
        expect(degraded).toMatchObject({ statusReason: 'webhook answered HTTP 503: maintenance', backlogEvents: 5, failures: 1 });
        expect(degraded.windowEndsAt).toBeGreaterThan((await now()) + 23.9 * 3600_000);
        // The mirror shows degraded at once, with the backlog and the window.
        const mirrored = await eventually(async () => scripted.records.at(-1)!, (r) => r.record.status === 'degraded');
        expect(mirrored.record).toMatchObject({ backlogEvents: 5, windowEndsAt: degraded.windowEndsAt });

        await testServer().sleep('10m');
        expect(await status(handle)).toMatchObject({ status: 'active', statusReason: '', delivered: 5, backlogEvents: 0, failures: 0 });
        expect(scripted.deliveries.map((d) => d.probe)).toEqual([false, true, true, true]);
        // The mirror follows within the mirror delay: what a lost workflow would start again from.
        const after = await eventually(async () => scripted.records.at(-1)!.record, (r) => r.delivered === 5);
        expect(after).toMatchObject({ status: 'active', backlogEvents: 0, pending: [], settled: [[1, 5]], knownChunk: 5 });
      },
    );
  });

  it('fails when the window is spent, drops what was buffered, drops what arrives while failed, and an update re-enables it', async () => {
    await withDestination(testServer(), { deliver: async () => Promise.reject(failure('webhook answered HTTP 500')) }, async ({ handle, scripted }) => {
      await handle.signal('eventsReady', { ranges: [range(1, 7, await now())] });
      await until(handle, (s) => s.status === 'degraded');
      await testServer().sleep('23h');
      expect(await status(handle)).toMatchObject({ status: 'degraded', backlogEvents: 7, dropped: 0 });
      await testServer().sleep('2h');
      const failed = await until(handle, (s) => s.status === 'failed');
      expect(failed).toMatchObject({ backlogEvents: 0, dropped: 7, delivered: 0 });
      expect(failed.windowEndsAt).toBeUndefined();
      expect(failed.statusReason).toMatch(/^retries exhausted: no successful delivery since .*; 7 buffered events dropped\. Last error: webhook answered HTTP 500\./);
      const attempts = scripted.deliveries.length;
      expect(attempts).toBeGreaterThan(250); // backing off, capped at 5 minutes, for a day

      await handle.signal('eventsReady', { ranges: [range(8, 9, await now())] });
      await until(handle, (s) => s.dropped === 9);
      await testServer().sleep('3h');
      expect(scripted.deliveries.length).toBe(attempts); // nothing is sent while failed
      const mirrored = await eventually(async () => scripted.records.at(-1)!.record, (r) => r.dropped === 9);
      expect(mirrored).toMatchObject({ status: 'failed', pending: [], settled: [[1, 9]] });

      const reenabled = await handle.executeUpdate('reconfigure', { args: [{ enabled: true }] });
      expect(reenabled).toMatchObject({ status: 'active', statusReason: '', dropped: 9, failures: 0 });
    });
  });

  it('keeps retrying a disabled, degraded destination’s buffer only until its window ends', async () => {
    await withDestination(testServer(), { deliver: async () => Promise.reject(failure('connection refused')) }, async ({ handle, scripted }) => {
      await handle.signal('eventsReady', { ranges: [range(1, 3, await now())] });
      await until(handle, (s) => s.status === 'degraded');
      await handle.executeUpdate('reconfigure', { args: [{ enabled: false }] });
      const attempts = scripted.deliveries.length;
      await testServer().sleep('25h');
      expect(await until(handle, (s) => s.status === 'failed')).toMatchObject({ dropped: 3, enabled: false });
      expect(scripted.deliveries.length).toBe(attempts);
    });
  });

  it('flushes on delete at once, even while backing off, answers what it flushed, and mirrors its end', async () => {
    await withDestination(
      testServer(),
      { deliver: async (input, call) => (call === 1 ? Promise.reject(failure('busy', { retryAfterMs: 3_600_000 })) : settleExpected(input)) },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 4, await now())] });
        await until(handle, (s) => s.status === 'degraded');
        expect(await handle.executeUpdate('delete', { args: [{ flushDeadlineMs: 30_000 }] })).toEqual({ flushed: 4, dropped: 0 });
        expect(await handle.result()).toEqual({ flushed: 4, dropped: 0 });
        expect(scripted.records.at(-1)).toMatchObject({ final: true, record: { delivered: 4, backlogEvents: 0 } });
      },
    );
  });

  it('has written its final record when it answers a delete, so nothing is written after the API removes it', async () => {
    let finalWritten = false;
    await withDestination(
      testServer(),
      {
        deliver: async (input) => settleExpected(input),
        record: async (input) => {
          if (!input.final) return;
          await new Promise((resolve) => setTimeout(resolve, 500)); // a store that answers slowly
          finalWritten = true;
        },
      },
      async ({ handle }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 3, await now())] });
        expect(await handle.executeUpdate('delete', { args: [{ flushDeadlineMs: 10_000 }] })).toEqual({ flushed: 3, dropped: 0 });
        expect(finalWritten).toBe(true);
      },
    );
  });

  it('interrupts a delivery in flight on delete, keeps what it got through, and flushes the rest', async () => {
    await withDestination(
      testServer(),
      { deliver: async (input, call) => (call === 1 ? untilCancelled(() => settleExpected(input, 3)) : settleExpected(input)) },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 10, await now())] });
        await eventually(async () => scripted.deliveries.length, (n) => n === 1);
        expect(await handle.executeUpdate('delete', { args: [{ flushDeadlineMs: 10_000 }] })).toEqual({ flushed: 10, dropped: 0 });
        // The second delivery resumed where the first stopped, in the chunk it named.
        expect(scripted.deliveries[1].expect).toEqual([{ lo: 4, hi: 10, count: 7, at: expect.any(Number), firstChunk: 4, lastChunk: 10 }]);
      },
    );
  });

  it('answers a delete by its deadline when the destination keeps failing, counting what it could not flush as dropped', async () => {
    await withDestination(testServer(), { deliver: async () => Promise.reject(failure('webhook answered HTTP 503')) }, async ({ handle }) => {
      await handle.signal('eventsReady', { ranges: [range(1, 6, await now())] });
      await until(handle, (s) => s.status === 'degraded');
      const started = Date.now();
      expect(await handle.executeUpdate('delete', { args: [{ flushDeadlineMs: 2_000 }] })).toEqual({ flushed: 0, dropped: 6 });
      expect(Date.now() - started).toBeLessThan(2_000 + 4_000);
    });
  });

  it('holds a batch the destination stored but cannot confirm until the destination is updated', async () => {
    await withDestination(
      testServer(),
      {
        deliver: async (input, call) =>
          call === 1 ? Promise.reject(misconfigured('indexer acknowledgement is on, but Splunk returned no ackId', { awaitUpdate: true })) : settleExpected(input),
      },
      async ({ handle, scripted }) => {
        await handle.signal('eventsReady', { ranges: [range(1, 2, await now())] });
        await until(handle, (s) => s.status === 'degraded');
        await testServer().sleep('6h');
        expect(scripted.deliveries.length).toBe(1); // no copy resent while nothing changed
        const held = await status(handle);
        expect(held.status).toBe('degraded');
        expect(held.retryAt).toBeUndefined();
        await handle.executeUpdate('reconfigure', { args: [{ enabled: true }] });
        await until(handle, (s) => s.status === 'active' && s.delivered === 2);
        expect(scripted.deliveries.length).toBe(2);
      },
    );
  });

  it('follows the service’s settings from the next write: a shorter window applies to a destination already failing', async () => {
    await withDestination(testServer(), { deliver: async () => Promise.reject(failure('webhook answered HTTP 503')) }, async ({ handle, scripted }) => {
      await handle.signal('eventsReady', { ranges: [range(1, 2, await now())] });
      const before = await until(handle, (s) => s.status === 'degraded');
      const firstFailure = before.lastErrorAt!;
      expect(before.windowEndsAt).toBe(firstFailure + 24 * 3600_000);
      scripted.policy = { ...policy24h, retryWindowMs: 30 * 60_000 }; // the service restarted with a 30-minute window
      await testServer().sleep('10m');
      expect(await status(handle)).toMatchObject({ status: 'degraded', windowEndsAt: firstFailure + 30 * 60_000 });
      await testServer().sleep('25m');
      const after = await until(handle, (s) => s.status === 'failed');
      expect(after.dropped).toBe(2);
    });
  });

  it('starts from the state recovered from MongoDB when it has no carried state', async () => {
    await withDestination(
      testServer(),
      {
        deliver: async (input) => settleExpected(input),
        recovered: {
          status: 'degraded',
          statusReason: 'earlier failure',
          enabled: true,
          pending: [range(11, 20, await now())],
          settled: [],
          counts: { delivered: 10, rejected: 1, dropped: 2 },
          failures: 1,
          failingSince: await now(),
          awaitingUpdate: false,
          stream: { ...initialStream(), next: 14 },
          policy: policy24h,
        },
      },
      async ({ handle }) => {
        expect(await until(handle, (s) => s.delivered === 20)).toMatchObject({ status: 'active', rejected: 1, dropped: 2, backlogEvents: 0 });
      },
    );
  });
});
