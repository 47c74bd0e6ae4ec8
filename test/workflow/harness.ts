// Runs the real destination workflow against scripted activities on a Temporal test server:
// no MongoDB, no service, no destination — the workflow's transitions alone.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach } from 'vitest';
import { tools } from '../../src/stack/local.js';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import { installRuntime } from '../../src/temporal/runtime.js';
import { randomUUID } from 'node:crypto';
import type { CheckpointInput, DeliverInput, RecordInput, RecoverInput } from '../../activities/delivery.js';
import { deliveryFailedType, destinationWorkflowId, misconfiguredType, type DestinationWorkflowInput } from '../../workflows/messages.js';
import type { PendingRange } from '../../workflows/ranges.js';
import { initialState, type DeliveryPolicy, type DeliveryProgress, type DestinationSnapshot, type DestinationState } from '../../workflows/state.js';
import { workflowsPath } from '../../src/temporal/worker.js';

export const policy24h: DeliveryPolicy = {
  retryWindowMs: 24 * 3600_000,
  initialBackoffMs: 1_000,
  maxBackoffMs: 300_000,
  maxEventsPerDelivery: 20_000,
  checkpointIntervalMs: 60_000,
  checkpointIdleMs: 3600_000,
};

/** A delivery's progress as a script gives it: the harness adds the policy, and the sequence's progress when it is left out. */
export type ScriptedProgress = Omit<DeliveryProgress, 'policy' | 'stream'> & Partial<Pick<DeliveryProgress, 'stream'>>;

/** What the scripted destination does with one delivery; throws to fail it. */
export type DeliverScript = (input: DeliverInput, call: number) => Promise<ScriptedProgress>;

/** The sequence's progress of a scripted delivery: every settled or missing event took a number (the chain is the activity's; here it stays). */
function withStream(input: DeliverInput, progress: ScriptedProgress): Omit<DeliveryProgress, 'policy'> {
  const missing = progress.missing.reduce((sum, range) => sum + range.count, 0);
  const dropped = missing > 0 ? [{ lo: input.stream.next, hi: input.stream.next + missing - 1 }] : [];
  const stream = { next: input.stream.next + missing + progress.delivered + progress.rejected, chain: input.stream.chain, sent: progress.delivered, dropped, rejected: [] };
  return { stream, ...progress };
}

export interface Scripted {
  deliveries: DeliverInput[];
  /** Every mirror write, by `record` or at the start of a delivery, in order. */
  records: RecordInput[];
  deliver: DeliverScript;
  record?: (input: RecordInput) => Promise<void>;
  /** Every checkpoint the workflow asked to sign and send, in order. */
  checkpoints: CheckpointInput[];
  /** What the scripted destination does with a checkpoint; throws to fail it. */
  sendCheckpoint?: (input: CheckpointInput, call: number) => Promise<void>;
  /** The policy the activities report (the service's configuration). */
  policy: DeliveryPolicy;
  recovered: DestinationState;
}

/** Progress settling the first `events` expected events (all of them by default); chunks follow the seqs here (see `range`). */
export function settleExpected(input: DeliverInput, events = Infinity): ScriptedProgress {
  const progress: ScriptedProgress = { settled: [], delivered: 0, rejected: 0, missing: [] };
  let left = events;
  for (const range of input.expect) {
    if (left <= 0) break;
    const count = Math.min(left, range.count);
    const hi = count === range.count ? range.hi : range.lo + count - 1;
    progress.settled.push({ lo: range.lo, hi, count, next: hi + 1 });
    progress.delivered += count;
    left -= count;
  }
  return progress;
}

export function failure(message: string, details: Record<string, unknown> = {}, type = deliveryFailedType): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: [details] });
}

export const misconfigured = (message: string, details: Record<string, unknown> = {}) => failure(message, details, misconfiguredType);

/** Waits until the activity is cancelled (it heartbeats meanwhile), then returns `progress`. */
export async function untilCancelled<T>(progress: () => T): Promise<T> {
  const context = Context.current();
  while (!context.cancellationSignal.aborted) {
    context.heartbeat();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return progress();
}

installRuntime();

let bundle: Promise<WorkflowBundle> | undefined;
function workflowBundle(): Promise<WorkflowBundle> {
  const quiet = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quiet });
  return bundle;
}

/** A range of one event per seq, each in a chunk of its own numbered as its seq. */
export function range(lo: number, hi: number, at = 0): PendingRange {
  return { lo, hi, count: hi - lo + 1, at, firstChunk: lo, lastChunk: hi };
}

export async function withDestination<T>(
  env: TestWorkflowEnvironment,
  script: Partial<Scripted> & Pick<Scripted, 'deliver'>,
  body: (context: { id: string; handle: ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>; scripted: Scripted }) => Promise<T>,
  input: Partial<DestinationWorkflowInput> = {},
): Promise<T> {
  const scripted: Scripted = { deliveries: [], records: [], checkpoints: [], policy: policy24h, recovered: initialState(true, script.policy ?? policy24h), ...script };
  const taskQueue = `workflow-test-${randomUUID()}`;
  let calls = 0;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    maxHeartbeatThrottleInterval: '100ms',
    activities: {
      deliver: async (deliverInput: DeliverInput) => {
        scripted.deliveries.push(deliverInput);
        scripted.records.push(deliverInput);
        try {
          return { ...withStream(deliverInput, await scripted.deliver(deliverInput, ++calls)), policy: scripted.policy };
        } catch (error) {
          // A real delivery's failure reports its progress with the policy too.
          const details = error instanceof ApplicationFailure ? (error.details?.[0] as { progress?: ScriptedProgress } | undefined) : undefined;
          if (!details?.progress) throw error;
          const failed = error as ApplicationFailure;
          const progress = { ...withStream(deliverInput, details.progress), policy: scripted.policy };
          throw ApplicationFailure.create({ type: failed.type ?? undefined, message: failed.message, nonRetryable: true, details: [{ ...details, progress }] });
        }
      },
      record: async (recordInput: RecordInput) => {
        scripted.records.push(recordInput);
        await scripted.record?.(recordInput);
        return { policy: scripted.policy };
      },
      recover: async (_: RecoverInput) => ({ state: { ...scripted.recovered, policy: scripted.policy } }),
      checkpoint: async (checkpointInput: CheckpointInput) => {
        scripted.checkpoints.push(checkpointInput);
        scripted.records.push(checkpointInput);
        await scripted.sendCheckpoint?.(checkpointInput, scripted.checkpoints.length);
        return { hash: `hash-of-${checkpointInput.plan.n}` };
      },
    },
  });
  const id = `dst_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('destinationWorkflow', {
      workflowId: destinationWorkflowId(id),
      taskQueue,
      args: [{ destinationId: id, tenantId: 'tenant-workflow', provider: 'webhook', searchAttributes: false, ...input }],
    });
    try {
      return await body({ id, handle, scripted });
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  });
}

/**
 * A time-skipping test server per test: time skipped in one test (or a workflow it left behind)
 * must not hold up the clock of the next. Answers the current test's environment.
 */
export function testServerPerTest(): () => TestWorkflowEnvironment {
  let env: TestWorkflowEnvironment | undefined;
  beforeEach(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: tools.temporalTestServer } } });
  });
  afterEach(async () => {
    await env?.teardown();
  });
  return () => env!;
}

/** The workflow's `status` query. */
export const statusOf = (handle: { query: (name: string) => Promise<unknown> }) => handle.query('status') as Promise<DestinationSnapshot>;
