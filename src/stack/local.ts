// The local stack `npm start` and the tests run on: the Temporal CLI dev server (with its
// Web UI) and FerretDB on SQLite, from the pinned binaries in .tools/ (scripts/install-tools.sh),
// with their data on disk under the data directory.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { searchAttributeKeys } from '../../workflows/search-attributes.js';
import { lockDataDir } from './lock.js';
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
  /** Where to say what start-up had to clean up (processes a killed earlier start left). */
  report?: (line: string) => void;
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

/**
 * Starts a server on the preferred port or a free one. A port found free can be taken by
 * someone else before the server binds it: then the server exits at once, and it is started
 * again on another port.
 */
export async function startOnFreePorts<T>(preferred: (number | undefined)[], start: (ports: number[]) => Promise<T>): Promise<{ ports: number[]; started: T }> {
  for (let attempt = 0; ; attempt++) {
    const ports: number[] = [];
    for (const port of preferred) ports.push(await pickPort(attempt === 0 ? port : undefined));
    try {
      return { ports, started: await start(ports) };
    } catch (error) {
      const raced = (await Promise.all(ports.map(portIsFree))).includes(false);
      if (!raced || attempt >= 3) throw error;
    }
  }
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

/**
 * Starts the stack in its data directory, which it holds (src/stack/lock.ts) until stopped:
 * a second start on the same directory is refused, and what a killed earlier start left
 * running is stopped first.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  mkdirSync(options.dataDir, { recursive: true });
  const lock = await lockDataDir(options.dataDir, options.report);
  const stack: LocalStack = {
    async stop() {
      await Promise.all([stack.temporal?.stop(), stack.ferretdb?.stop()]);
      lock.release();
    },
  };
  const record = () =>
    lock.update({
      mongodbUri: stack.mongodbUri,
      temporalAddress: stack.temporalAddress,
      temporalUiUrl: stack.temporalUiUrl,
      processes: [stack.ferretdb, stack.temporal].filter((p) => p !== undefined).map((p) => ({ name: p.name, pid: p.child.pid! })),
    });
  try {
    if (options.mongodb) {
      const { ports, started } = await startOnFreePorts([options.ports?.mongodb], ([port]) => startFerretDb(options.dataDir, port));
      stack.ferretdb = started;
      stack.mongodbUri = `mongodb://127.0.0.1:${ports[0]}/`;
      record();
    }
    if (options.temporal) {
      const preferred = [options.ports?.temporal, ...(options.headless ? [] : [options.ports?.temporalUi])];
      const { ports, started } = await startOnFreePorts(preferred, ([port, uiPort]) =>
        startTemporalDevServer(options.dataDir, port, uiPort, options.temporalDynamicConfig),
      );
      stack.temporal = started;
      stack.temporalAddress = `127.0.0.1:${ports[0]}`;
      if (ports[1] !== undefined) stack.temporalUiUrl = `http://127.0.0.1:${ports[1]}`;
      record();
    }
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
