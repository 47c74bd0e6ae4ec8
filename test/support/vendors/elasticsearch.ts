// A real Elasticsearch node for the tests: Maven Central's integ-test distribution (installed
// by scripts/install-tools.sh --test), single node, 512 MB heap, on loopback. It refuses to run
// as root, so as root it runs as `nobody` from a copy of itself in a directory of its own: the
// checkout may be where only its owner may enter (a home directory), and stays so. Security is either off
// (that distribution cannot create the security index API keys need: it lacks the
// analysis-common module) or on with TLS, to answer a real 401 to any API key.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../../src/stack/local.js';
import { freePort } from '../../../src/stack/processes.js';
import type { TestPki } from '../tls.js';

export const elasticsearchHome = join(projectRoot, '.tools', 'elasticsearch-8.17.0');
/** `nobody`: Elasticsearch will not run as root. */
const nobody = 65534;

export interface Elasticsearch {
  /** Where Elasticsearch itself listens (http://, or https:// with security on). */
  url: string;
  stop(): Promise<void>;
}

function javaHome(): string {
  if (process.env.ES_JAVA_HOME) return process.env.ES_JAVA_HOME;
  const java = realpathSync(execFileSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).trim());
  return dirname(dirname(java));
}

export async function startElasticsearch(options: { pki: TestPki; security?: boolean }): Promise<Elasticsearch> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-es-'));
  // 100 MB, copied in a fraction of a second.
  const home = asRoot ? join(dir, 'home') : elasticsearchHome;
  if (asRoot) cpSync(elasticsearchHome, home, { recursive: true });
  const conf = join(dir, 'config');
  cpSync(join(elasticsearchHome, 'config'), conf, { recursive: true });
  const [httpPort, transportPort] = [await freePort(), await freePort()];
  const settings = [
    'cluster.name: auditstream-test',
    'discovery.type: single-node',
    'network.host: 127.0.0.1',
    `http.port: ${httpPort}`,
    `transport.port: ${transportPort}`,
    `path.data: ${join(dir, 'data')}`,
    `path.logs: ${join(dir, 'logs')}`,
    // A machine with little free disk must not turn the test indices read-only.
    'cluster.routing.allocation.disk.threshold_enabled: false',
  ];
  if (options.security) {
    cpSync(options.pki.certFile, join(conf, 'server.pem'));
    cpSync(options.pki.keyFile, join(conf, 'server.key'));
    settings.push(
      'xpack.security.enabled: true',
      'xpack.security.http.ssl.enabled: true',
      'xpack.security.http.ssl.certificate: server.pem',
      'xpack.security.http.ssl.key: server.key',
      'xpack.security.transport.ssl.enabled: false',
    );
  } else {
    settings.push('xpack.security.enabled: false');
  }
  writeFileSync(join(conf, 'elasticsearch.yml'), settings.join('\n') + '\n');
  writeFileSync(join(conf, 'jvm.options'), ['-XX:+UseG1GC', '-Djava.io.tmpdir=${ES_TMPDIR}', '-XX:+ExitOnOutOfMemoryError', '-Xms512m', '-Xmx512m'].join('\n') + '\n');
  for (const sub of ['data', 'logs', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  if (asRoot) execFileSync('chown', ['-R', `${nobody}:${nobody}`, dir]);
  const env = { ...process.env, ES_PATH_CONF: conf, ES_JAVA_HOME: javaHome(), ES_TMPDIR: join(dir, 'tmp') };
  const command = join(home, 'bin', 'elasticsearch');
  // Its own process group: the launcher and the server JVM stop together.
  const child: ChildProcess = asRoot
    ? spawn('runuser', ['-u', 'nobody', '--', command], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(command, [], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const scheme = options.security ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${httpPort}`;
  const ca = readFileSync(options.pki.caFile);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Elasticsearch exited with ${child.exitCode} while starting: ${stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`Elasticsearch did not answer within 90 s; its logs are in ${join(dir, 'logs')}`);
    // Up once it answers anything (with security on, a 401 to a request without credentials).
    const status = await new Promise<number>((resolve) => {
      const request = (options.security ? https : http).get(`${url}/_cluster/health`, { ca, timeout: 1_000 }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', () => resolve(0));
    });
    if (status === 200 || (options.security && status === 401)) break;
    await sleep(250);
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        process.kill(-child.pid!, 'SIGTERM');
        const exited = new Promise((resolve) => child.once('exit', resolve));
        if (!(await Promise.race([exited.then(() => true), sleep(15_000, undefined, { ref: false }).then(() => false)]))) process.kill(-child.pid!, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * HTTPS on loopback in front of a plain-HTTP server, passing requests and answers through
 * unchanged: the service only sends to https:// endpoints, and this Elasticsearch has no TLS.
 */
export async function startTlsPassThrough(pki: TestPki, upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(upstream);
  const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, (req, res) => {
    const forward = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
