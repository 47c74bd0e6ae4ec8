// The peer the service is held to, measured beside it in the same run: the OpenTelemetry
// Collector as a durable log forwarder — Splunk HEC in, the batch processor (batches of 500),
// Splunk HEC out to each receiver with its sending queue on disk (file_storage) — built from
// tools/otelcol. The same event, published the same way (4 callers sending batches of 500 as
// fast as they are answered), to the same kind of loopback receivers; then the service's own
// `sustained` and `backlog` scenarios, and our figures as ratios of the collector's.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { freePort, startProcess, waitForPort, type ManagedProcess } from '../src/stack/processes.js';
import { bundledApart } from '../src/temporal/worker.js';
import { round, type BenchStack } from './harness.js';
import { startHecBenchReceiver, type BenchReceiver } from './receiver.js';
import { backlog, sustained } from './scenarios.js';

const otelcol = join(new URL('..', import.meta.url).pathname, '.tools', 'bin', 'otelcol-hec');

interface Collector {
  url: string;
  process: ManagedProcess;
  rssMiB(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

async function startCollector(bench: BenchStack, receivers: BenchReceiver[]): Promise<Collector> {
  const dir = mkdtempSync(join(bench.dir, 'otelcol-'));
  const port = await freePort();
  const exporters = receivers.map(
    (receiver, i) => `  splunk_hec/${i}:
    endpoint: ${receiver.url}
    token: bench-token
    tls: { ca_file: ${bench.pki.caFile} }
    retry_on_failure: { enabled: true, initial_interval: 200ms, max_interval: 2s, max_elapsed_time: 0 }
    sending_queue: { enabled: true, storage: file_storage, sizer: requests, queue_size: 10000, num_consumers: 4 }`,
  );
  writeFileSync(
    join(dir, 'config.yaml'),
    `extensions:
  file_storage: { directory: ${join(dir, 'queue')}, create_directory: true }
receivers:
  splunk_hec: { endpoint: 127.0.0.1:${port} }
processors:
  batch: { send_batch_size: 500, send_batch_max_size: 500, timeout: 200ms }
exporters:
${exporters.join('\n')}
service:
  extensions: [file_storage]
  pipelines:
    logs: { receivers: [splunk_hec], processors: [batch], exporters: [${receivers.map((_, i) => `splunk_hec/${i}`).join(', ')}] }
  telemetry: { logs: { level: warn }, metrics: { level: none } }
`,
  );
  const logFile = join(dir, 'otelcol.log');
  const process = startProcess('OpenTelemetry Collector', otelcol, [`--config=file:${join(dir, 'config.yaml')}`], logFile);
  await waitForPort(port, process, 30_000, logFile);
  const pid = process.child.pid!;
  return {
    url: `http://127.0.0.1:${port}/services/collector/event`,
    process,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    async stop() {
      await process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The bench's event, as a HEC envelope. */
function envelope(id: string): string {
  return JSON.stringify({ time: Date.now() / 1000, event: { id, action: 'user.login', outcome: 'success', actor: { id: 'u-1', ip: '203.0.113.9' } } });
}

/** 4 callers sending batches of 500 as fast as they are answered, for `seconds` or until `total` are sent. */
async function publishHec(url: string, limit: { seconds?: number; total?: number }, prefix: string): Promise<number> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const deadline = performance.now() + (limit.seconds ?? Infinity) * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: 4 }, async (_, caller) => {
      for (let i = 0; performance.now() < deadline && sent < (limit.total ?? Infinity); i++) {
        const n = Math.min(500, (limit.total ?? Infinity) - sent);
        sent += n;
        const body = Array.from({ length: n }, (_, j) => envelope(`${prefix}-${caller}-${i}-${j}`)).join('');
        const response = await request(url, { method: 'POST', body, dispatcher: agent, headers: { authorization: 'Splunk bench-token' } });
        await response.body.dump();
        if (response.statusCode !== 200) throw new Error(`the collector answered HTTP ${response.statusCode}`);
      }
    }),
  );
  await agent.close();
  return sent;
}

async function collectorSustained(bench: BenchStack, destinations: number, seconds = 15) {
  const receivers = await Promise.all(Array.from({ length: destinations }, () => startHecBenchReceiver(bench.pki)));
  const collector = await startCollector(bench, receivers);
  try {
    const start = performance.now();
    const cpuBefore = collector.cpuSeconds();
    const published = await publishHec(collector.url, { seconds }, `s${destinations}`);
    await Promise.all(receivers.map((receiver) => receiver.waitFor(published, 300_000)));
    const elapsed = (performance.now() - start) / 1000;
    return { destinations, published, 'delivered/s per dest': round(published / elapsed), 'collector CPU (of 200%)': `${Math.round(((collector.cpuSeconds() - cpuBefore) / elapsed) * 100)}%` };
  } finally {
    await collector.stop();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  }
}

async function collectorBacklog(bench: BenchStack, size: number) {
  const [receiver] = [await startHecBenchReceiver(bench.pki)];
  const collector = await startCollector(bench, [receiver]);
  try {
    receiver.up = false;
    const rssBefore = collector.rssMiB();
    const start = performance.now();
    await publishHec(collector.url, { total: size }, 'b');
    const publishRate = size / ((performance.now() - start) / 1000);
    const rssQueued = collector.rssMiB();
    let rssPeak = rssQueued;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, collector.rssMiB())), 250);
    receiver.up = true;
    const drainStart = performance.now();
    await receiver.waitFor(size, 900_000);
    clearInterval(sampler);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    return { events: size, 'publish/s': round(publishRate), 'drain s': round(drainSeconds, 1), 'drain/s': round(size / drainSeconds), 'RSS before / queued / peak MiB': [rssBefore, rssQueued, rssPeak].map((v) => round(v)).join(' / ') };
  } finally {
    await collector.stop();
    await receiver.close();
  }
}

/**
 * The resident memory of a Temporal worker running our workflow bundle and nothing else
 * (bench/worker-floor.mjs): below it no API + worker pair on this stack can go, whatever the
 * service does.
 */
async function workerFloorMiB(bench: BenchStack): Promise<number> {
  const script = join(new URL('.', import.meta.url).pathname, 'worker-floor.mjs');
  const namespace = bench.serviceEnv.TEMPORAL_NAMESPACE ?? 'default';
  const { stdout } = await bundledApart(({ codePath }) => promisify(execFile)(process.execPath, ['--expose-gc', script, bench.stack.temporalAddress!, namespace, codePath]));
  return JSON.parse(stdout.trim().split('\n').pop()!).rssMiB;
}

/** The collector and the service, one after the other in this run, and the service's figures as ratios of the collector's. */
export async function otelComparison(bench: BenchStack) {
  const theirs = {
    one: await collectorSustained(bench, 1),
    three: await collectorSustained(bench, 3),
    backlog: await collectorBacklog(bench, 1_000_000),
  };
  console.log(JSON.stringify(theirs));
  const [ourOne, ourThree] = await sustained(bench, [1, 3]);
  const [ourBacklog] = await backlog(bench, [1_000_000]);
  const floor = await workerFloorMiB(bench);
  const ourQueuedRss = (ourBacklog['API RSS before / outage / peak / after MiB'] as string).split(' / ').map(Number)[1] + (ourBacklog['worker RSS before / outage / peak / after MiB'] as string).split(' / ').map(Number)[1];
  const theirQueuedRss = Number(theirs.backlog['RSS before / queued / peak MiB'].split(' / ')[1]);
  const ratio = (ours: number, their: number) => `${round(ours / their, 2)}×`;
  return [
    { figure: 'sustained delivered/s, 1 destination', collector: theirs.one['delivered/s per dest'], auditstream: ourOne['delivered/s per dest (sustained)'], 'auditstream ÷ collector': ratio(Number(ourOne['delivered/s per dest (sustained)']), theirs.one['delivered/s per dest']) },
    { figure: 'sustained delivered/s per destination, 3', collector: theirs.three['delivered/s per dest'], auditstream: ourThree['delivered/s per dest (sustained)'], 'auditstream ÷ collector': ratio(Number(ourThree['delivered/s per dest (sustained)']), theirs.three['delivered/s per dest']) },
    { figure: 'drain of a 1,000,000 backlog, events/s', collector: theirs.backlog['drain/s'], auditstream: ourBacklog['drain/s'], 'auditstream ÷ collector': ratio(Number(ourBacklog['drain/s']), theirs.backlog['drain/s']) },
    { figure: 'resident memory with 1,000,000 queued, MiB (API + worker)', collector: round(theirQueuedRss), auditstream: round(ourQueuedRss), 'auditstream ÷ collector': ratio(ourQueuedRss, theirQueuedRss) },
    { figure: 'the stack\'s floor: a Temporal worker with our workflows and nothing else, idle, MiB', collector: round(theirQueuedRss), auditstream: round(floor), 'auditstream ÷ collector': ratio(floor, theirQueuedRss) },
  ];
}
