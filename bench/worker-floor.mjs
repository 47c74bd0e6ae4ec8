// The least memory the fixed stack's delivery worker can take: a Temporal TypeScript worker
// running the service's workflow bundle and nothing else — no activities, no store, no HTTP —
// idle once started, after a full GC. `node --expose-gc bench/worker-floor.mjs <Temporal
// address> <namespace> <bundle file>` prints `{"rssMiB": …}` as its last line. Plain
// JavaScript, run without the TypeScript loader the service runs with, so the loader's own
// memory is not counted: the figure is a floor, not what the service takes.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const [address, namespace, codePath] = process.argv.slice(2);
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({ connection, namespace, taskQueue: 'auditstream-worker-floor', workflowBundle: { codePath }, activities: {} });
const running = worker.run();
await sleep(5_000);
globalThis.gc?.();
await sleep(1_000);
const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
worker.shutdown();
await running;
await connection.close();
console.log(JSON.stringify({ rssMiB }));
