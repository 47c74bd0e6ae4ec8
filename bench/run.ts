// `npm run bench [-- scenario ...]`: brings up its own stack, runs the scenarios, prints a
// table per scenario and writes the figures to bench/results/<time>.json.
// Scenarios: ingest, e2e, temporal-cost, sustained, scale, backlog, baseline, store, otel, drafts, audit (default: all).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/stack/local.js';
import { startBenchStack, type BenchStack } from './harness.js';
import { otelComparison } from './otel.js';
import { auditLogScale, backlog, baseline, draftTests, endToEnd, ingest, scaleOut, storeCosts, sustained } from './scenarios.js';

const scenarios: Record<string, { title: string; run: (bench: BenchStack) => Promise<Record<string, unknown>[]> }> = {
  ingest: { title: 'Ingest (1 destination enabled)', run: (b) => ingest(b) },
  e2e: { title: 'End to end at steady rates: publish → arrival, and Temporal history events per 1,000 delivered', run: (b) => endToEnd(b) },
  'temporal-cost': {
    title: 'Temporal history events per 1,000 delivered at 10, 100 and 1,000 events/s (1 destination, 20 s each)',
    run: (b) => endToEnd(b, [[1, 10], [1, 100], [1, 1_000]], 20),
  },
  sustained: { title: 'Highest sustained end-to-end rate', run: (b) => sustained(b) },
  scale: { title: 'More processes on this machine: 1 or 2 API processes × 1 or 2 workers, sustained to 3 destinations', run: (b) => scaleOut(b) },
  backlog: { title: 'Backlog: receiver down while N events are published, then up', run: (b) => backlog(b) },
  baseline: { title: 'Baselines in the same run', run: (b) => baseline(b) },
  store: { title: 'What each kind of operation costs on FerretDB 1.24 (the table the store is designed by)', run: (b) => storeCosts(b) },
  otel: { title: 'Beside the OpenTelemetry Collector as a durable forwarder (HEC in, file-backed queue, HEC out), same run', run: (b) => otelComparison(b) },
  drafts: { title: 'API memory through 1,000 TestDestination calls with CloudWatch drafts, each with its own keys', run: (b) => draftTests(b) },
  audit: { title: 'The audit log on FerretDB: pages, an export and a retention run at 100,000 and 1,000,000 events', run: (b) => auditLogScale(b) },
};

async function main() {
  const selected = process.argv.slice(2).filter((arg) => arg !== '--');
  const names = selected.length > 0 ? selected : Object.keys(scenarios);
  for (const name of names) if (!scenarios[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  // Retries back off for 2 s at most here, so a receiver coming back is noticed quickly.
  const bench = await startBenchStack({ AUDITSTREAM_MAX_BACKOFF: '2s' });
  const results: Record<string, unknown> = { machine, at: new Date().toISOString(), command: `npm run bench -- ${names.join(' ')}` };
  try {
    for (const name of names) {
      const rows = await scenarios[name].run(bench);
      console.log(`\n${scenarios[name].title}`);
      console.table(rows);
      results[name] = rows;
    }
  } finally {
    await bench.stop();
  }
  const dir = join(projectRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`\nfigures written to ${file}`);
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
