// `npm start`: brings up the local stack when MONGODB_URI / TEMPORAL_ADDRESS are not set,
// then the API and the worker; prints where everything is. SIGINT or SIGTERM stops it all —
// also when sent to `npm start` itself: npm passes it to the shell that runs this process,
// which exits, and a process whose parent is gone stops as if told to.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from './config.js';
import { errorMessage, log, setLogLevel } from './log.js';
import { IngestLeaseHeld } from './ingest/lease.js';
import { startService } from './service.js';
import { DataDirInUse } from './stack/lock.js';
import { projectRoot, startLocalStack, type LocalStack } from './stack/local.js';

const localTenant = 'local';

async function main(): Promise<void> {
  const config = loadConfig();
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
    lines.push(`  Console:      ${service.httpUrl}/console/  (Settings > Audit > SIEM; sign in with a manage API key)`);
  }
  if (stack?.temporalAddress) lines.push(`  Temporal:     ${stack.temporalAddress}  (frontend: temporal workflow list --address ${stack.temporalAddress})`);
  if (stack?.temporalUiUrl) lines.push(`  Temporal UI:  ${stack.temporalUiUrl}/namespaces/${config.temporalNamespace}/workflows`);
  if (stack?.mongodbUri) lines.push(`  MongoDB:      ${stack.mongodbUri}  (FerretDB, data in ${config.dataDir})`);
  if (apiKeyLine) lines.push(apiKeyLine);
  lines.push('  Stop with Ctrl-C.', '');
  console.log(lines.join('\n'));

  let stopping = false;
  stop = async (why: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${why}: stopping…`);
    try {
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
  else if (error instanceof DataDirInUse || error instanceof IngestLeaseHeld) console.error(`auditstream cannot start: ${error.message}`);
  else console.error(`auditstream failed to start: ${error instanceof Error ? error.stack : error}`);
  process.exit(1);
});
