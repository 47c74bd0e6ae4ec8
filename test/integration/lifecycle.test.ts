// `npm start` as an operator runs it: what it prints, the admin CLI finding its store, a
// second start on the same data directory refused, SIGINT / SIGTERM to the npm process
// stopping everything it started, and a SIGKILLed service whose leftovers the next start
// stops. Each start brings up its own FerretDB and Temporal dev server in a directory of
// this file's own.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStackRecord } from '../../src/stack/lock.js';
import { projectRoot } from '../../src/stack/local.js';
import { freePort } from '../../src/stack/processes.js';
import { stack } from '../support/clients.js';
import { eventually } from '../support/wait.js';

const dataDir = join(stack.dir, `lifecycle-${randomUUID().slice(0, 8)}`);
mkdirSync(dataDir, { recursive: true });
const started: ChildProcess[] = [];

interface Start {
  npm: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function npmStart(): Promise<Start> {
  const env = {
    ...process.env,
    AUDITSTREAM_DATA_DIR: dataDir,
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    MONGODB_URI: '',
    TEMPORAL_ADDRESS: '',
  };
  const npm = spawn('npm', ['start'], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(npm);
  let output = '';
  npm.stdout!.on('data', (chunk) => (output += chunk));
  npm.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  return { npm, output: () => output, exited };
}

async function running(start: Start): Promise<void> {
  await eventually(async () => start.output(), (text) => text.includes('auditstream is running') || start.npm.exitCode !== null, 90_000);
  if (!start.output().includes('auditstream is running')) throw new Error(`npm start did not come up:\n${start.output()}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function admin(...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], {
    cwd: projectRoot,
    env: { ...process.env, AUDITSTREAM_DATA_DIR: dataDir, MONGODB_URI: '' },
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

afterAll(() => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  const record = readStackRecord(dataDir);
  for (const { pid } of record?.processes ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('npm start', () => {
  it('prints where everything is, the admin CLI finds its store, a second start is refused, and SIGINT to npm stops it all', async () => {
    const first = await npmStart();
    await running(first);
    const record = readStackRecord(dataDir)!;
    expect(first.output()).toContain(`Temporal:     ${record.temporalAddress}  (frontend`);
    expect(first.output()).toContain(`MongoDB:      ${record.mongodbUri}`);
    expect(record.processes.map((p) => p.name)).toEqual(['FerretDB', 'Temporal dev server']);

    const key = await admin('keys', 'create', '--tenant', 'lifecycle', '--scopes', 'publish');
    expect(key.code).toBe(0);
    expect(key.output).toMatch(/^ask_/);

    const second = await npmStart();
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`the data directory ${dataDir} is in use by another auditstream (pid ${record.pid}`);

    first.npm.kill('SIGINT');
    expect(await first.exited).toBe(0);
    await eventually(async () => [record.pid, ...record.processes.map((p) => p.pid)].filter(alive), (left) => left.length === 0, 20_000);
    expect(readStackRecord(dataDir)).toBeUndefined();
    expect(readFileSync(join(dataDir, 'logs', 'ferretdb.log'), 'utf8')).not.toMatch(/panic/);
    expect(first.output()).not.toMatch(/"level":"error"|error while stopping/);
  }, 180_000);

  it('stops on SIGTERM to npm too; after a SIGKILL of the service, the next start stops what it left running', async () => {
    const first = await npmStart();
    await running(first);
    const record = readStackRecord(dataDir)!;
    process.kill(record.pid, 'SIGKILL'); // the service's own node process, as a crash would
    await eventually(async () => alive(record.pid), (up) => !up, 10_000);
    expect(record.processes.map((p) => alive(p.pid))).toEqual([true, true]);

    const next = await npmStart();
    await running(next);
    for (const { name, pid } of record.processes) {
      expect(next.output()).toContain(`stopping ${name} (pid ${pid}), left running by an earlier start (pid ${record.pid}) that did not stop`);
      expect(alive(pid)).toBe(false);
    }
    const current = readStackRecord(dataDir)!;
    next.npm.kill('SIGTERM');
    await next.exited;
    await eventually(async () => [current.pid, ...current.processes.map((p) => p.pid)].filter(alive), (left) => left.length === 0, 20_000);
  }, 240_000);
});
