// A real Splunk HTTP Event Collector endpoint for the tests: the OpenTelemetry Collector's
// Splunk HEC receiver (built from tools/otelcol by scripts/install-tools.sh --test), over
// HTTPS with the test certificate. Two endpoints: one whose token has indexer
// acknowledgement (the ack extension), one whose token has not. Tokens are checked by the
// bearer-token extension with the `Splunk` scheme; what each endpoint received is written
// by the file exporter as OTLP JSON lines, which `events()` reads back.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../src/stack/local.js';
import { freePort, startProcess, waitForPort } from '../../../src/stack/processes.js';
import type { TestPki } from '../tls.js';

export const otelcolHec = join(projectRoot, '.tools', 'bin', 'otelcol-hec');

export const hecTokens = { ack: 'hec-token-with-ack-0123456789', plain: 'hec-token-without-ack-0123456789' } as const;

/** One log record as the file exporter wrote it: the HEC event as JSON, and its indexed fields. */
export interface HecRecord {
  event: Record<string, unknown>;
  fields: Record<string, unknown>;
  timeUnixNano?: string;
}

export interface SplunkHecEndpoints {
  /** Endpoint whose token has indexer acknowledgement. */
  ackUrl: string;
  /** Endpoint whose token has not. */
  plainUrl: string;
  /** Where each endpoint's events are written (OTLP JSON lines): read them with `readHecRecords`. */
  outputs: { ack: string; plain: string };
}

export interface SplunkHec extends SplunkHecEndpoints {
  stop(): Promise<void>;
}

/** What an endpoint received, in order. */
export function readHecRecords(file: string): HecRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => JSON.parse(line).resourceLogs ?? [])
    .flatMap((resource: any) => resource.scopeLogs ?? [])
    .flatMap((scope: any) => scope.logRecords ?? [])
    .map((record: any) => ({
      event: plain(record.body) as Record<string, unknown>,
      fields: Object.fromEntries((record.attributes ?? []).map((kv: any) => [kv.key, plain(kv.value)])),
      timeUnixNano: record.timeUnixNano,
    }));
}

/** OTLP's AnyValue as plain JSON. */
function plain(value: any): unknown {
  if (value === undefined || value === null) return null;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(plain);
  if ('kvlistValue' in value) return Object.fromEntries((value.kvlistValue.values ?? []).map((kv: any) => [kv.key, plain(kv.value)]));
  return null;
}

export async function startSplunkHec(pki: TestPki): Promise<SplunkHec> {
  const dir = mkdtempSync(join(tmpdir(), 'auditstream-hec-'));
  const [ackPort, plainPort] = [await freePort(), await freePort()];
  const tls = `{ cert_file: ${pki.certFile}, key_file: ${pki.keyFile} }`;
  const output = (name: string) => join(dir, `${name}.jsonl`);
  writeFileSync(
    join(dir, 'config.yaml'),
    `extensions:
  ack:
  bearertokenauth/ack: { scheme: Splunk, token: ${hecTokens.ack} }
  bearertokenauth/plain: { scheme: Splunk, token: ${hecTokens.plain} }
receivers:
  splunk_hec/ack:
    endpoint: 127.0.0.1:${ackPort}
    tls: ${tls}
    auth: { authenticator: bearertokenauth/ack }
    ack: { extension: ack }
  splunk_hec/plain:
    endpoint: 127.0.0.1:${plainPort}
    tls: ${tls}
    auth: { authenticator: bearertokenauth/plain }
exporters:
  file/ack: { path: ${output('ack')}, flush_interval: 50ms }
  file/plain: { path: ${output('plain')}, flush_interval: 50ms }
service:
  extensions: [ack, bearertokenauth/ack, bearertokenauth/plain]
  pipelines:
    logs/ack: { receivers: [splunk_hec/ack], exporters: [file/ack] }
    logs/plain: { receivers: [splunk_hec/plain], exporters: [file/plain] }
  telemetry: { logs: { level: warn }, metrics: { level: none } }
`,
  );
  const logFile = join(dir, 'otelcol.log');
  const collector = startProcess('OpenTelemetry Collector', otelcolHec, [`--config=file:${join(dir, 'config.yaml')}`], logFile);
  await waitForPort(ackPort, collector, 30_000, logFile);
  await waitForPort(plainPort, collector, 30_000, logFile);
  return {
    ackUrl: `https://127.0.0.1:${ackPort}`,
    plainUrl: `https://127.0.0.1:${plainPort}`,
    outputs: { ack: output('ack'), plain: output('plain') },
    async stop() {
      await collector.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
