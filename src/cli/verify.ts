// npm run verify -- <file> --keys <file or URL> [--destination <id>] [--json]
// npm run verify -- --export <file> --manifest <file> --keys <file or URL>
// Checks what a SIEM stored against the signed checkpoints among it (src/completeness/verify.ts),
// or an export's file against its signed manifest (src/completeness/manifest.ts).
// The keys: verifier keys one a line ("name+keyid+base64"), or the JSON of the service's
// /.well-known/auditstream/signing-keys, from a file or fetched from that URL.
// Exit status: 0 complete, 1 complete but for ranges reported dropped or refused,
// 2 incomplete (events or checkpoints missing), 3 invalid (altered, forged or out of chain), 64 usage;
// for an export: 0 when it matches its manifest, 3 when it does not.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkExport, manifestNoteIn } from '../completeness/manifest.js';
import { parseVerifierKeys, type NoteVerifier } from '../completeness/note.js';
import { exitStatus, readStoredRecords, verifyRecords, type DestinationReport, type VerifyReport } from '../completeness/verify.js';

const usage = `usage: npm run verify -- <stored records file> --keys <keys file or URL> [--destination <id>] [--json]
       npm run verify -- --export <export file> --manifest <manifest, or GetExport's JSON> --keys <keys file or URL>`;

async function readKeys(source: string): Promise<NoteVerifier[]> {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source} answered HTTP ${response.status}`);
    return parseVerifierKeys(await response.text());
  }
  return parseVerifierKeys(readFileSync(source, 'utf8'));
}

const ranges = (list: { lo: number; hi: number }[]) => list.map(({ lo, hi }) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(', ');

function describe(report: DestinationReport): string {
  const lines = [`destination ${report.destinationId}${report.tenantId ? ` (tenant ${report.tenantId})` : ''}: ${report.verdict}`];
  const { verified, first, last } = report.checkpoints;
  lines.push(`  checkpoints verified: ${verified}${verified > 0 ? ` (${first}..${last})` : ''}; events checked: ${report.eventsChecked}${report.covered ? ` of sequences ${report.covered.lo}..${report.covered.hi}` : ''}`);
  if (report.gaps.length > 0) lines.push(`  GAPS (sent, not stored): ${ranges(report.gaps)}`);
  if (report.missingCheckpoints.length > 0) lines.push(`  MISSING CHECKPOINTS: ${ranges(report.missingCheckpoints)}`);
  if (report.dropped.length > 0) lines.push(`  dropped and reported: ${ranges(report.dropped)}`);
  if (report.rejected.length > 0) lines.push(`  refused by the destination and reported: ${ranges(report.rejected)}`);
  for (const line of report.altered) lines.push(`  ALTERED: ${line}`);
  for (const line of report.invalidCheckpoints) lines.push(`  INVALID: ${line}`);
  if (report.duplicates > 0) lines.push(`  duplicates (the same record again): ${report.duplicates}`);
  if (report.uncovered > 0) lines.push(`  not yet covered by a checkpoint: ${report.uncovered} events`);
  return lines.join('\n');
}

function describeReport(report: VerifyReport): string {
  if (report.destinations.length === 0) return `no auditstream events or checkpoints found (${report.otherRecords} other records)`;
  const replays = report.replays > 0 ? [`backfill replays (outside any sequence): ${report.replays}`] : [];
  return [...report.destinations.map(describe), ...replays, `verdict: ${report.verdict}`].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { keys: { type: 'string' }, destination: { type: 'string' }, json: { type: 'boolean' }, export: { type: 'string' }, manifest: { type: 'string' } },
  });
  if (values.export !== undefined || values.manifest !== undefined) {
    if (!values.export || !values.manifest || !values.keys || positionals.length > 0) {
      console.error(usage);
      return 64;
    }
    const { manifest, problems } = checkExport(readFileSync(values.export), manifestNoteIn(readFileSync(values.manifest, 'utf8')), await readKeys(values.keys));
    if (problems.length > 0) {
      console.log(['export: INVALID', ...problems.map((problem) => `  ${problem}`)].join('\n'));
      return exitStatus.invalid;
    }
    console.log(`export ${manifest!.exportId} (tenant ${manifest!.tenantId}): matches its signed manifest — ${manifest!.events} events, ${manifest!.size} bytes, SHA-256 ${manifest!.sha256}, filter ${manifest!.filter}, made ${manifest!.time}`);
    return exitStatus.complete;
  }
  if (positionals.length !== 1 || !values.keys) {
    console.error(usage);
    return 64;
  }
  const report = verifyRecords(readStoredRecords(readFileSync(positionals[0], 'utf8')), await readKeys(values.keys), { destinationId: values.destination });
  console.log(values.json ? JSON.stringify(report, null, 2) : describeReport(report));
  return exitStatus[report.verdict];
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: Error) => {
    console.error(error.message);
    process.exit(64);
  },
);
