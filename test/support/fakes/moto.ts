// The CloudWatch Logs fake: moto in server mode (PyPI moto[server], installed into .tools by
// the project's script), over HTTPS with the test certificate.
import { join } from 'node:path';
import { tools } from '../../../src/stack/local.js';
import { freePort, startProcess, waitForPort, type ManagedProcess } from '../../../src/stack/processes.js';
import type { TestPki } from '../tls.js';

export async function startMoto(pki: TestPki, logDir: string): Promise<{ url: string; process: ManagedProcess }> {
  const port = await freePort();
  const logFile = join(logDir, `moto-${port}.log`);
  const moto = startProcess('moto', tools.motoServer, ['-H', '127.0.0.1', '-p', String(port), '-s', '-c', pki.certFile, '-k', pki.keyFile], logFile);
  await waitForPort(port, moto, 60_000, logFile);
  return { url: `https://127.0.0.1:${port}`, process: moto };
}
