// The local stack `npm start` and the tests run on: the Temporal CLI dev server (with its
// Web UI) and FerretDB on SQLite, from the pinned binaries in .tools/ (scripts/install-tools.sh),
// with their data on disk under the data directory.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { freePort, portIsFree, startProcess, waitForPort, type ManagedProcess } from './processes.js';

export const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const toolsDir = join(projectRoot, '.tools');
export const tools = {
  temporal: join(toolsDir, 'venv', 'bin', 'temporal'),
  temporalTestServer: join(toolsDir, 'venv', 'bin', 'temporal-test-server'),
  ferretdb: join(toolsDir, 'bin', 'ferretdb'),
  motoServer: join(toolsDir, 'venv', 'bin', 'moto_server'),
  python: join(toolsDir, 'venv', 'bin', 'python'),
};

export interface LocalStackOptions {
  dataDir: string;
  /** Start FerretDB (when no MONGODB_URI is given). */
  mongodb: boolean;
  /** Start the Temporal dev server (when no TEMPORAL_ADDRESS is given). */
  temporal: boolean;
  /** Preferred ports; a busy one is replaced by a free one. Omitted: any free port. */
  ports?: { mongodb?: number; temporal?: number; temporalUi?: number };
  /** Extra `--dynamic-config-value` settings for the dev server, e.g. lower history limits. */
  temporalDynamicConfig?: string[];
  headless?: boolean;
}

export interface LocalStack {
  mongodbUri?: string;
  temporalAddress?: string;
  temporalUiUrl?: string;
  ferretdb?: ManagedProcess;
  temporal?: ManagedProcess;
  stop(): Promise<void>;
}

async function pickPort(preferred: number | undefined): Promise<number> {
  if (preferred !== undefined && (await portIsFree(preferred))) return preferred;
  return freePort();
}

function requireTool(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm start\` or \`bash scripts/install-tools.sh\` to install the local stack`);
}

export async function startFerretDb(dataDir: string, port: number): Promise<ManagedProcess> {
  requireTool(tools.ferretdb);
  const dbDir = join(dataDir, 'ferretdb');
  mkdirSync(dbDir, { recursive: true });
  const logFile = join(dataDir, 'logs', 'ferretdb.log');
  const ferretdb = startProcess('FerretDB', tools.ferretdb, [
    '--handler=sqlite',
    `--sqlite-url=file:${dbDir}/`,
    `--listen-addr=127.0.0.1:${port}`,
    `--state-dir=${dbDir}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
  ], logFile);
  await waitForPort(port, ferretdb, 30_000, logFile);
  return ferretdb;
}

export async function startTemporalDevServer(
  dataDir: string,
  port: number,
  uiPort: number | undefined,
  dynamicConfig: string[] = [],
): Promise<ManagedProcess> {
  requireTool(tools.temporal);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dataDir, 'logs', 'temporal.log');
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--db-filename', join(dataDir, 'temporal.db'),
    '--namespace', 'default',
    '--log-level', 'warn',
    ...searchAttributeKeys.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
    ...dynamicConfig.flatMap((value) => ['--dynamic-config-value', value]),
  ];
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  const temporal = startProcess('Temporal dev server', tools.temporal, args, logFile);
  await waitForPort(port, temporal, 60_000, logFile);
  return temporal;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stack: LocalStack = {
    async stop() {
      await Promise.all([stack.temporal?.stop(), stack.ferretdb?.stop()]);
    },
  };
  try {
    if (options.mongodb) {
      const port = await pickPort(options.ports?.mongodb);
      stack.ferretdb = await startFerretDb(options.dataDir, port);
      stack.mongodbUri = `mongodb://127.0.0.1:${port}/`;
    }
    if (options.temporal) {
      const port = await pickPort(options.ports?.temporal);
      const uiPort = options.headless ? undefined : await pickPort(options.ports?.temporalUi);
      stack.temporal = await startTemporalDevServer(options.dataDir, port, uiPort, options.temporalDynamicConfig);
      stack.temporalAddress = `127.0.0.1:${port}`;
      if (uiPort !== undefined) stack.temporalUiUrl = `http://127.0.0.1:${uiPort}`;
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
