// An export's manifest: what the file is — its name, size, event count, SHA-256, format, preset,
// the filter that chose its events, when it was made — as a signed note under the same keys as
// checkpoints (./keys.ts), so an auditor can check a downloaded file against it with
// `npm run verify -- --export <file> --manifest <manifest>` and trust it without trusting us.
import { createHash } from 'node:crypto';
import { openNote, parseNote, type NoteVerifier } from './note.js';

const header = 'auditstream export manifest v1';

/** What a manifest says of an export job (the store's ExportDoc has these fields). */
interface ExportFacts {
  _id: string;
  tenantId: string;
  format: 'ndjson' | 'csv';
  gzip: boolean;
  preset?: string;
  filter: object;
  count: number;
  size: number;
  sha256: string;
}

/** The file name a download of the export is given. */
export function exportFileName(job: Pick<ExportFacts, '_id' | 'format' | 'gzip'>): string {
  return `audit-${job._id}.${job.format === 'csv' ? 'csv' : 'ndjson'}${job.gzip ? '.gz' : ''}`;
}

export interface ExportManifest {
  tenantId: string;
  exportId: string;
  file: string;
  size: number;
  events: number;
  sha256: string;
  format: string;
  preset: string;
  /** The filter as JSON (one line). */
  filter: string;
  time: string;
}

export function manifestOf(job: ExportFacts, finishedAt: Date): ExportManifest {
  return {
    tenantId: job.tenantId,
    exportId: job._id,
    file: exportFileName(job),
    size: job.size,
    events: job.count,
    sha256: job.sha256,
    format: `${job.format}${job.gzip ? '+gzip' : ''}`,
    preset: job.preset ?? 'none',
    filter: JSON.stringify(job.filter),
    time: finishedAt.toISOString(),
  };
}

const fields = ['tenant', 'export', 'file', 'size', 'events', 'sha256', 'format', 'preset', 'filter', 'time'] as const;
const keyOf: Record<(typeof fields)[number], keyof ExportManifest> = {
  tenant: 'tenantId',
  export: 'exportId',
  file: 'file',
  size: 'size',
  events: 'events',
  sha256: 'sha256',
  format: 'format',
  preset: 'preset',
  filter: 'filter',
  time: 'time',
};

/** The text a manifest's signature covers: one field a line. */
export function manifestText(manifest: ExportManifest): string {
  return [header, ...fields.map((field) => `${field} ${manifest[keyOf[field]]}`), ''].join('\n');
}

export function parseManifestText(text: string): ExportManifest {
  const lines = text.split('\n');
  if (lines[0] !== header || lines.length !== fields.length + 2) throw new Error('not an auditstream export manifest v1');
  const values = fields.map((field, index) => {
    const line = lines[index + 1];
    if (!line.startsWith(`${field} `)) throw new Error(`manifest line ${index + 2} is not "${field} …"`);
    return line.slice(field.length + 1);
  });
  const manifest = Object.fromEntries(fields.map((field, index) => [keyOf[field], values[index]])) as unknown as ExportManifest;
  return { ...manifest, size: Number(manifest.size), events: Number(manifest.events) };
}

/** What checking an export file against its signed manifest found: nothing when it matches. */
export function checkExport(file: Buffer, note: string, verifiers: NoteVerifier[]): { manifest?: ExportManifest; problems: string[] } {
  const opened = openNote(note, verifiers);
  if ('error' in opened) return { problems: [`manifest: ${opened.error}`] };
  let manifest: ExportManifest;
  try {
    manifest = parseManifestText(opened.text);
  } catch (error) {
    return { problems: [`manifest: ${(error as Error).message}`] };
  }
  const problems: string[] = [];
  if (file.length !== manifest.size) problems.push(`the file is ${file.length} bytes, the manifest says ${manifest.size}`);
  const sha256 = createHash('sha256').update(file).digest('hex');
  if (sha256 !== manifest.sha256) problems.push(`the file's SHA-256 is ${sha256}, the manifest says ${manifest.sha256}: it is not the file exported, or it was altered`);
  return { manifest, problems };
}

/** A manifest's note from what a user saved: the note itself, or GetExport's JSON answer holding it. */
export function manifestNoteIn(text: string): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith(header)) return text;
  const json = JSON.parse(text) as { export?: { manifest?: string }; manifest?: string };
  const note = json.export?.manifest ?? json.manifest;
  if (typeof note !== 'string') throw new Error('no manifest found: give the manifest text, or the JSON of GetExport');
  parseNote(note);
  return note;
}
