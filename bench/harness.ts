// The benchmark stack: the local stack (FerretDB, Temporal dev server) started here, the
// service as two processes, an API and a delivery worker (so each one's memory and CPU are
// its own), and helpers to publish at a steady rate, create destinations and read
// Temporal's histories.
import { createClient, type Client as RpcClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventService } from '../src/gen/auditstream/v1/events_pb.js';
import { ApiKeyStore } from '../src/store/api-keys.js';
import { startLocalStack, type LocalStack } from '../src/stack/local.js';
import { localServiceEnv, startServiceProcess, type ServiceProcess } from '../test/support/service-process.js';
import { makeTestPki, type TestPki } from '../test/support/tls.js';
import { startBenchReceiver, type BenchReceiver } from './receiver.js';

export interface BenchStack {
  dir: string;
  pki: TestPki;
  stack: LocalStack;
  /** The API process (ingest, management, dispatch). */
  service: ServiceProcess;
  /** The delivery worker process. */
  worker: ServiceProcess;
  /** The Node options the worker runs with (AUDITSTREAM_BENCH_WORKER_NODE_OPTIONS), if any. */
  workerNodeOptions?: string;
  mongo: MongoClient;
  temporal: Client;
  /** The service processes' environment: another API or worker process started with it joins this one. */
  serviceEnv: Record<string, string>;
  issueKey(tenantId: string): Promise<string>;
  /** An EventService client with the key, to the API process (or to another one at `grpcUrl`). */
  events(key: string, grpcUrl?: string): RpcClient<typeof EventService>;
  addWebhook(key: string): Promise<{ id: string; receiver: BenchReceiver }>;
  /** Resident memory of the API and of the worker process. */
  rssMiB(): { api: number; worker: number };
  /** Starts measuring CPU per process; the returned function tells each one's share since. */
  cpuMeter(): () => string;
  stop(): Promise<void>;
}

/** User + system CPU seconds a process has used, from /proc (Linux). */
function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 per second on Linux
}

export async function startBenchStack(env: Record<string, string> = {}): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-bench-'));
  const pki = makeTestPki(dir);
  const stack = await startLocalStack({ dataDir: join(dir, 'stack'), mongodb: true, temporal: true, headless: true });
  const serviceEnv = {
    ...(await localServiceEnv(stack, pki, dir)),
    AUDITSTREAM_LOG_LEVEL: 'warn',
    // The benchmark measures the service, not its per-tenant limits.
    AUDITSTREAM_PUBLISH_RATE: '100000000',
    AUDITSTREAM_PUBLISH_BURST: '100000000',
    AUDITSTREAM_MANAGE_RATE: '1000',
    AUDITSTREAM_MANAGE_BURST: '1000',
    AUDITSTREAM_READ_RATE: '1000',
    AUDITSTREAM_READ_BURST: '1000',
    ...env,
  };
  const service = await startServiceProcess({ ...serviceEnv, AUDITSTREAM_ROLE: 'api' }, join(dir, 'api.log'));
  // At info level the worker says when it is running, which is how its start is awaited.
  // AUDITSTREAM_BENCH_WORKER_NODE_OPTIONS (say `--max-old-space-size=96`) runs the worker with a
  // bounded V8 heap: what a scenario does in it then shows that its memory is bounded by design,
  // where a resident-memory figure also counts the garbage V8 has not collected yet.
  const workerNodeOptions = process.env.AUDITSTREAM_BENCH_WORKER_NODE_OPTIONS;
  const worker = await startServiceProcess(
    { ...serviceEnv, AUDITSTREAM_ROLE: 'worker', AUDITSTREAM_LOG_LEVEL: 'info', ...(workerNodeOptions ? { NODE_OPTIONS: workerNodeOptions } : {}) },
    join(dir, 'worker.log'),
  );
  const mongo = await new MongoClient(stack.mongodbUri!).connect();
  const temporal = new Client({ connection: await Connection.connect({ address: stack.temporalAddress! }) });
  const transports = new Map<string, ReturnType<typeof createGrpcTransport>>();
  const transportTo = (url: string) => {
    if (!transports.has(url)) transports.set(url, createGrpcTransport({ baseUrl: url }));
    return transports.get(url)!;
  };
  const keys = new ApiKeyStore({ apiKeys: mongo.db('auditstream').collection('api_keys') } as never);
  const receivers: BenchReceiver[] = [];
  return {
    dir,
    pki,
    stack,
    service,
    worker,
    mongo,
    temporal,
    serviceEnv,
    workerNodeOptions,
    issueKey: async (tenantId) => (await keys.issue(tenantId, 'bench')).key,
    events: (key, grpcUrl = service.grpcUrl) => {
      const transport = transportTo(grpcUrl);
      return createClient(EventService, {
        ...transport,
        unary: (method, signal, timeout, header, input, values) => {
          const headers = new Headers(header);
          headers.set('authorization', `Bearer ${key}`);
          return transport.unary(method, signal, timeout, headers, input, values);
        },
      });
    },
    async addWebhook(key) {
      const receiver = await startBenchReceiver(pki, 'bench-secret');
      receivers.push(receiver);
      const response = await fetch(`${service.httpUrl}/v1/audit/siem`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify({ provider: 'webhook', endpoint: receiver.url, secret: 'bench-secret' }),
      });
      if (response.status !== 201) throw new Error(`create failed: ${await response.text()}`);
      return { id: (await response.json()).destination.id as string, receiver };
    },
    rssMiB() {
      const rss = (pid: number | undefined) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
      return { api: rss(service.child.pid), worker: rss(worker.child.pid) };
    },
    cpuMeter() {
      // The bench process is the load generator and every receiver.
      const pids = { API: service.child.pid, worker: worker.child.pid, FerretDB: stack.ferretdb?.child.pid, Temporal: stack.temporal?.child.pid, bench: process.pid };
      const sample = () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSecondsOf(pid)]));
      const before = sample();
      const started = performance.now();
      return () => {
        const after = sample();
        const seconds = (performance.now() - started) / 1000;
        return Object.keys(pids)
          .map((name) => `${name} ${Math.round(((after[name] - before[name]) / seconds) * 100)}%`)
          .join(' · ');
      };
    },
    async stop() {
      await Promise.all(receivers.map((r) => r.close()));
      await temporal.connection.close();
      await mongo.close();
      await service.stop();
      await worker.stop();
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

export const round = (value: number, digits = 0) => Number(value.toFixed(digits));
