// `npm run bench [-- scenario ...]`: brings up its own local stack, runs the scenarios,
// prints a table per scenario and writes the figures to bench/results/<time>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../src/stack/local.js';
import { startBenchStack } from './harness.js';
import { measureTemporalCost } from './temporal-cost.js';

const scenarios: Record<string, (bench: Awaited<ReturnType<typeof startBenchStack>>) => Promise<unknown>> = {
  'temporal-cost': async (bench) => {
    const rows = await measureTemporalCost(bench);
    console.log('\nTemporal history events per 1,000 delivered events (1 webhook destination)');
    console.table(rows.map((r) => ({ 'events/s': r.rate, seconds: r.seconds, delivered: r.delivered, 'history events': r.historyEvents, 'per 1,000': r.perThousand.toFixed(1) })));
    return rows;
  },
};

async function main() {
  const selected = process.argv.slice(2).filter((arg) => arg !== '--');
  const names = selected.length > 0 ? selected : Object.keys(scenarios);
  for (const name of names) if (!scenarios[name]) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  const bench = await startBenchStack();
  const results: Record<string, unknown> = { machine, at: new Date().toISOString() };
  try {
    for (const name of names) results[name] = await scenarios[name](bench);
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
