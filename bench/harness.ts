// The benchmark stack: the local stack and the service in this process, a loopback HTTPS
// receiver, and helpers to publish at a steady rate and read Temporal's histories.
import { createClient, type Client as RpcClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Client, Connection } from '@temporalio/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { EventService } from '../src/gen/auditstream/v1/events_pb.js';
import { setLogLevel } from '../src/log.js';
import { startService, type RunningService } from '../src/service.js';
import { startLocalStack, type LocalStack } from '../src/stack/local.js';
import { freePort } from '../src/stack/processes.js';
import { makeTestPki, type TestPki } from '../test/support/tls.js';

export interface BenchStack {
  dir: string;
  pki: TestPki;
  stack: LocalStack;
  service: RunningService;
  temporal: Client;
  events(key: string): RpcClient<typeof EventService>;
  stop(): Promise<void>;
}

export async function startBenchStack(env: Record<string, string> = {}): Promise<BenchStack> {
  setLogLevel('warn');
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-bench-'));
  const pki = makeTestPki(dir);
  const stack = await startLocalStack({ dataDir: join(dir, 'stack'), mongodb: true, temporal: true, headless: true });
  const config = loadConfig({
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    AUDITSTREAM_DATA_DIR: join(dir, 'service'),
    AUDITSTREAM_OUTBOUND_CA_FILE: pki.caFile,
    AUDITSTREAM_ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
    AUDITSTREAM_LOG_LEVEL: 'warn',
    ...env,
  });
  const service = await startService(config, { mongodbUri: stack.mongodbUri!, temporalAddress: stack.temporalAddress! });
  const temporal = new Client({ connection: await Connection.connect({ address: stack.temporalAddress! }) });
  const transport = createGrpcTransport({ baseUrl: service.grpcUrl! });
  return {
    dir,
    pki,
    stack,
    service,
    temporal,
    events: (key) =>
      createClient(EventService, {
        ...transport,
        unary: (method, signal, timeout, header, input, values) => {
          const headers = new Headers(header);
          headers.set('authorization', `Bearer ${key}`);
          return transport.unary(method, signal, timeout, headers, input, values);
        },
        stream: transport.stream,
      }),
    async stop() {
      await temporal.connection.close();
      await service.stop();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls `publish` `rate` times a second for `seconds`, spread evenly, without waiting on each. */
export async function publishAtRate(rate: number, seconds: number, publish: (i: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Promise<unknown>[] = [];
  const start = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const sent = performance.now();
    pending.push(publish(i).then(() => latencies.push(performance.now() - sent)));
  }
  await Promise.all(pending);
  return latencies;
}

/** History events written by every run of a workflow id (continue-as-new included). */
export async function historyEventCount(temporal: Client, workflowId: string): Promise<number> {
  let total = 0;
  for await (const execution of temporal.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
    const history = await temporal.workflow.getHandle(workflowId, execution.runId).fetchHistory();
    total += history.events?.length ?? 0;
  }
  return total;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
