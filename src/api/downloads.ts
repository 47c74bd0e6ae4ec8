// GET /v1/audit/exports/{id}/download: an export's file, streamed chunk by chunk (memory
// stays bounded whatever its size), authenticated and rate-limited like every API call
// (`read` scope), with its manifest in the headers: the event count and the SHA-256 of the
// bytes sent, which a client checks after the download.
import { exportFileName } from '../completeness/manifest.js';
import { Code, ConnectError } from '@connectrpc/connect';
import { once } from 'node:events';
import type http from 'node:http';
import type { ExportStore } from '../store/exports.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import type { SessionStore } from '../store/sessions.js';
import type { AuditLogApi } from './audit-log.js';
import { authenticate } from './auth.js';
import type { Admission } from './limits.js';
import { decodePathSegment } from './validate.js';

const downloadPath = /^\/v1\/audit\/exports\/([^/]+)\/download$/;

export interface DownloadDependencies {
  keys: ApiKeyStore;
  sessions: SessionStore;
  admission: Admission;
  auditLog: AuditLogApi;
  exports: ExportStore;
}

/** Answers the request when it is a download; false when it is not one. Errors are thrown as ConnectErrors. */
export function downloadHandler({ keys, sessions, admission, auditLog, exports }: DownloadDependencies) {
  return async (req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<boolean> => {
    const match = downloadPath.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      throw new ConnectError(`${req.method} is not supported on ${path}`, Code.Unimplemented);
    }
    const headers = new Headers();
    for (const name of ['authorization', 'cookie', 'x-csrf-token'] as const) {
      const value = req.headers[name];
      if (typeof value === 'string') headers.set(name, value);
    }
    const caller = await authenticate(keys, sessions, headers);
    admission.admit(caller.tenantId, caller.scopes, 'read');
    const job = await auditLog.find(caller.tenantId, decodePathSegment(match[1]));
    if (job.state !== 'ready') throw new ConnectError(`export ${job._id} is ${job.state}, not ready: wait until GetExport says ready`, Code.FailedPrecondition);
    res.writeHead(200, {
      'content-type': job.gzip ? 'application/gzip' : job.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
      'content-length': String(job.size),
      'content-disposition': `attachment; filename="${exportFileName(job)}"`,
      'cache-control': 'no-store',
      'x-auditstream-event-count': String(job.count),
      'x-auditstream-sha256': job.sha256,
      digest: `sha-256=${Buffer.from(job.sha256, 'hex').toString('base64')}`,
    });
    for (let n = 0; n < job.chunks; n++) {
      if (!res.write(await exports.readChunk(job._id, n))) await once(res, 'drain');
    }
    res.end();
    return true;
  };
}
