// `npm start`: brings up the local stack when MONGODB_URI / TEMPORAL_ADDRESS are not set,
// then the API and the worker; prints where everything is. `npm start -- --apis N --workers M`
// runs N API processes and M workers in all (this process is one of each; the others are its
// children, AUDITSTREAM_ROLE=api or worker on the same store and Temporal), as a deployment would. SIGINT or SIGTERM stops it all —
// also when sent to `npm start` itself: npm passes it to the shell that runs this process,
// which exits, and a process whose parent is gone stops as if told to.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { errorMessage, log, setLogLevel } from './log.js';
import { startService } from './service.js';
import { DataDirInUse } from './stack/lock.js';
import { projectRoot, startLocalStack, type LocalStack } from './stack/local.js';
import { freePort, startProcess, waitForPort, type ManagedProcess } from './stack/processes.js';

const localTenant = 'local';

/** `--apis N --workers M`: how many of each to run in all (1 and 1: this process alone). */
function processCounts(argv: string[]): { apis: number; workers: number } {
  const { values } = parseArgs({ args: argv, options: { apis: { type: 'string', default: '1' }, workers: { type: 'string', default: '1' } } });
  const count = (name: string, value: string) => {
    if (!/^[1-9]\d?$/.test(value)) throw new ConfigError(`--${name} must be a number from 1 to 99 (got "${value}")`);
    return Number(value);
  };
  return { apis: count('apis', values.apis!), workers: count('workers', values.workers!) };
}

/** The API and worker processes beyond this one, on the same store and Temporal, each with its log in the data directory. */
async function startMore(counts: { apis: number; workers: number }, env: Record<string, string>, dataDir: string): Promise<{ processes: ManagedProcess[]; lines: string[] }> {
  const processes: ManagedProcess[] = [];
  const lines: string[] = [];
  const start = (name: string, extra: Record<string, string>) => {
    const logFile = join(dataDir, 'logs', `${name}.log`);
    const child = startProcess(name, process.execPath, ['--import', 'tsx', join(projectRoot, 'src/main.ts')], logFile, { ...process.env, ...env, ...extra });
    processes.push(child);
    return { child, logFile };
  };
  for (let n = 2; n <= counts.apis; n++) {
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const { child, logFile } = start(`api-${n}`, { AUDITSTREAM_ROLE: 'api', AUDITSTREAM_HTTP_PORT: String(httpPort), AUDITSTREAM_GRPC_PORT: String(grpcPort) });
    await waitForPort(httpPort, child, 90_000, logFile);
    lines.push(`  API ${n}:        http://127.0.0.1:${httpPort} (gRPC 127.0.0.1:${grpcPort}; follows the leading API process; log ${logFile})`);
  }
  for (let n = 2; n <= counts.workers; n++) {
    const { logFile } = start(`worker-${n}`, { AUDITSTREAM_ROLE: 'worker' });
    lines.push(`  Worker ${n}:     AUDITSTREAM_ROLE=worker on the same task queue (log ${logFile})`);
  }
  return { processes, lines };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const counts = processCounts(process.argv.slice(2));
  if ((counts.apis > 1 || counts.workers > 1) && config.role !== 'all') throw new ConfigError('--apis and --workers start a whole local deployment: leave AUDITSTREAM_ROLE unset');
  // FerretDB hangs for good once 100 updates are in flight (its SQLite backend pool): all the processes' pools together stay under it.
  const processes = counts.apis + counts.workers - 1;
  if (!config.mongodbUri && processes * config.mongodbPoolSize > 80) {
    throw new ConfigError(
      `${processes} processes with ${config.mongodbPoolSize} MongoDB connections each would exceed what the local FerretDB serves (keep the total under 80 of its 100): ` +
        `lower --apis / --workers, or AUDITSTREAM_MONGODB_POOL (at most ${Math.floor(80 / processes)} for ${processes} processes)`,
    );
  }
  setLogLevel(config.logLevel);
  config.dataDir = resolve(projectRoot, config.dataDir);
  const embedded = !config.mongodbUri;

  let stack: LocalStack | undefined;
  if (!config.mongodbUri || !config.temporalAddress) {
    console.log('Starting the local stack (FerretDB and the Temporal dev server)…');
    stack = await startLocalStack({
      dataDir: config.dataDir,
      mongodb: !config.mongodbUri,
      temporal: !config.temporalAddress,
      ports: { mongodb: 27018, temporal: 7233, temporalUi: 8233 },
      report: (line) => console.log(line),
    });
  }
  let stop: (why: string, exitCode?: number) => Promise<void> = async (_why, exitCode = 0) => process.exit(exitCode);
  const service = await startService(
    config,
    {
      mongodbUri: config.mongodbUri ?? stack!.mongodbUri!,
      temporalAddress: config.temporalAddress ?? stack!.temporalAddress!,
    },
    {
      onFatal(reason) {
        log.error('auditstream must stop', { reason });
        void stop(reason, 1);
      },
    },
  );

  let apiKeyLine = '';
  if (embedded && config.role !== 'worker') {
    // The local stack gets a first key for a local tenant. Only its hash is in the store;
    // the key itself is kept in the data directory so later starts can show it again.
    const keyFile = join(config.dataDir, 'local-api-key');
    let key = existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '';
    if (!key || !(await service.keys.exists(key))) {
      key = (await service.keys.issue(localTenant, 'local development key')).key;
      writeFileSync(keyFile, key + '\n', { mode: 0o600 });
    }
    apiKeyLine = `  API key:      ${key}   (tenant "${localTenant}", kept in ${keyFile})`;
  }

  const lines = ['', 'auditstream is running'];
  if (service.httpUrl) {
    lines.push(`  REST:         ${service.httpUrl}/v1/audit/siem`);
    lines.push(`  Connect:      ${service.httpUrl}  (JSON, binary, gRPC-Web)`);
    lines.push(`  gRPC:         ${service.grpcUrl!.replace('http://', '')}  (h2c)`);
    lines.push(`  Console:      ${service.httpUrl}/console/  (Settings > Audit: SIEM, Logs, Exports, Retention; sign in with a manage API key)`);
  }
  if (stack?.temporalAddress) lines.push(`  Temporal:     ${stack.temporalAddress}  (frontend: temporal workflow list --address ${stack.temporalAddress})`);
  if (stack?.temporalUiUrl) lines.push(`  Temporal UI:  ${stack.temporalUiUrl}/namespaces/${config.temporalNamespace}/workflows`);
  if (stack?.mongodbUri) lines.push(`  MongoDB:      ${stack.mongodbUri}  (FerretDB, data in ${config.dataDir})`);
  if (apiKeyLine) lines.push(apiKeyLine);
  const more = await startMore(
    counts,
    { MONGODB_URI: config.mongodbUri ?? stack!.mongodbUri!, TEMPORAL_ADDRESS: config.temporalAddress ?? stack!.temporalAddress!, AUDITSTREAM_DATA_DIR: config.dataDir },
    config.dataDir,
  );
  lines.push(...more.lines);
  lines.push('  Stop with Ctrl-C.', '');
  console.log(lines.join('\n'));

  let stopping = false;
  stop = async (why: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${why}: stopping…`);
    try {
      await Promise.all(more.processes.map((child) => child.stop()));
      await service.stop();
    } catch (error) {
      log.warn('error while stopping the service', { error: errorMessage(error) });
    }
    await stack?.stop();
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop('the process that started auditstream exited');
  }, 500).unref();
}

main().catch((error) => {
  if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
  else if (error instanceof DataDirInUse) console.error(`auditstream cannot start: ${error.message}`);
  else console.error(`auditstream failed to start: ${error instanceof Error ? error.stack : error}`);
  process.exit(1);
});
