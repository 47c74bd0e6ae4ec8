// Runs the service as users do, in its own process (`tsx src/main.ts`), so tests can also
// kill it for real.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { projectRoot, type LocalStack } from '../../src/stack/local.js';
import { freePort } from '../../src/stack/processes.js';
import type { TestPki } from './tls.js';

export interface ServiceProcess {
  child: ChildProcess;
  httpUrl: string;
  grpcUrl: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/**
 * What a service process needs to run against a local stack and deliver to HTTPS receivers
 * on loopback (signed by the test CA): the stores, free ports, its data directory.
 */
export async function localServiceEnv(stack: LocalStack, pki: TestPki, dir: string): Promise<Record<string, string>> {
  return {
    MONGODB_URI: stack.mongodbUri!,
    TEMPORAL_ADDRESS: stack.temporalAddress!,
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    AUDITSTREAM_DATA_DIR: join(dir, 'service'),
    AUDITSTREAM_OUTBOUND_CA_FILE: pki.caFile,
    // The receivers listen on loopback; nothing else private is reachable.
    AUDITSTREAM_ALLOW_PRIVATE_NETWORKS: '127.0.0.1/32',
  };
}

export async function startServiceProcess(env: Record<string, string>, logFile: string): Promise<ServiceProcess> {
  // One process (not the tsx CLI, which runs the program in a child): a SIGKILL must kill the service.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  await new Promise((resolve) => log.once('open', resolve));
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpUrl = `http://127.0.0.1:${env.AUDITSTREAM_HTTP_PORT}`;
  const grpcUrl = `http://127.0.0.1:${env.AUDITSTREAM_GRPC_PORT}`;
  const role = env.AUDITSTREAM_ROLE ?? 'all';
  const runningBefore = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('delivery worker running').length : 1;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`the service exited with code ${child.exitCode} while starting; ${logFile} ends with:\n${tail}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL'); // never leave a half-started service behind
      throw new Error(`the service did not become ready in 90s; see ${logFile}`);
    }
    if (role === 'worker') {
      // A worker has no listener: it is ready once it says so.
      if (existsSync(logFile) && readFileSync(logFile, 'utf8').split('delivery worker running').length > runningBefore) break;
    } else {
      const ready = await fetch(`${httpUrl}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
    }
    await sleep(200);
  }
  return {
    child,
    httpUrl,
    grpcUrl,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
