// Who owns a local stack's data directory: `<data dir>/stack.json`, written by the process
// that runs the stack, with the processes it started and where they listen. A second start
// on the same directory is refused while the owner lives; when the owner died without
// stopping (SIGKILL), the next start stops what it left running. Operator tools read it to
// find the running stack (the admin CLI's MongoDB address).
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from './processes.js';

export interface StackRecord {
  /** The process that owns the directory. */
  pid: number;
  startedAt: string;
  mongodbUri?: string;
  temporalAddress?: string;
  temporalUiUrl?: string;
  /** What it started: stopped by the next start if the owner died. */
  processes: { name: string; pid: number }[];
}

export class DataDirInUse extends Error {}

export function stackRecordPath(dataDir: string): string {
  return join(dataDir, 'stack.json');
}

export function readStackRecord(dataDir: string): StackRecord | undefined {
  try {
    return JSON.parse(readFileSync(stackRecordPath(dataDir), 'utf8')) as StackRecord;
  } catch {
    return undefined;
  }
}

/** The command line of a live process, or '' (gone, or not Linux). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Stops what a dead owner left running: only processes whose command names this data directory. */
async function stopLeftovers(record: StackRecord, dataDir: string, report: (line: string) => void): Promise<void> {
  for (const { name, pid } of record.processes) {
    if (!processAlive(pid) || !commandLine(pid).includes(dataDir)) continue;
    report(`stopping ${name} (pid ${pid}), left running by an earlier start (pid ${record.pid}) that did not stop`);
    process.kill(pid, 'SIGTERM');
    for (let waited = 0; waited < 10_000 && processAlive(pid); waited += 100) await sleep(100);
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

export interface StackLock {
  update(change: Partial<Omit<StackRecord, 'pid' | 'startedAt'>>): void;
  release(): void;
}

/** Takes the data directory for this process, or throws DataDirInUse saying who has it. */
export async function lockDataDir(dataDir: string, report: (line: string) => void = () => {}): Promise<StackLock> {
  const path = stackRecordPath(dataDir);
  const record: StackRecord = { pid: process.pid, startedAt: new Date().toISOString(), processes: [] };
  for (let attempt = 0; ; attempt++) {
    try {
      // Exclusive create: of two starts at the same moment, one gets the directory.
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(record, null, 2));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const owner = readStackRecord(dataDir);
    if (owner && owner.pid !== process.pid && processAlive(owner.pid)) {
      throw new DataDirInUse(
        `the data directory ${dataDir} is in use by another auditstream (pid ${owner.pid}, started ${owner.startedAt}); ` +
          `stop it first (kill -INT ${owner.pid}), or give this one another AUDITSTREAM_DATA_DIR`,
      );
    }
    if (owner) await stopLeftovers(owner, dataDir, report);
    rmSync(path, { force: true });
  }
  return {
    update(change) {
      Object.assign(record, change);
      writeFileSync(path, JSON.stringify(record, null, 2), { mode: 0o600 });
    },
    release() {
      if (existsSync(path) && readStackRecord(dataDir)?.pid === process.pid) rmSync(path, { force: true });
    },
  };
}
