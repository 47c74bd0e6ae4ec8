// CloudWatch Logs answers: rejected log events per PutLogEvents, and the SDK's exceptions.
import type { RejectedLogEventsInfo } from '@aws-sdk/client-cloudwatch-logs';
import { describeNetworkError } from '../http.js';
import type { SendOutcome } from '../provider.js';

/** Indexes (in the sorted batch) that CloudWatch refused, with why. */
export function rejectedIndexes(info: RejectedLogEventsInfo | undefined, count: number): { index: number; reason: string }[] {
  if (!info) return [];
  const rejected: { index: number; reason: string }[] = [];
  for (let index = 0; index < count; index++) {
    if (info.tooNewLogEventStartIndex !== undefined && index >= info.tooNewLogEventStartIndex) {
      rejected.push({ index, reason: 'CloudWatch refused the event: more than 2 hours in the future' });
    } else if (info.expiredLogEventEndIndex !== undefined && index < info.expiredLogEventEndIndex) {
      rejected.push({ index, reason: "CloudWatch refused the event: older than the log group's retention" });
    } else if (info.tooOldLogEventEndIndex !== undefined && index < info.tooOldLogEventEndIndex) {
      rejected.push({ index, reason: 'CloudWatch refused the event: more than 14 days old' });
    }
  }
  return rejected;
}

const credentialErrors = new Set(['UnrecognizedClientException', 'AccessDeniedException', 'InvalidSignatureException', 'ExpiredTokenException', 'MissingAuthenticationTokenException']);
const transientErrors = new Set(['ThrottlingException', 'ServiceUnavailableException', 'RequestTimeoutException', 'InternalFailure']);

export function classifyCloudWatchError(error: unknown, timeoutMs: number): SendOutcome {
  const err = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err.name ?? 'Error';
  const status = err.$metadata?.httpStatusCode;
  // An answer the SDK could not parse (a proxy's page, or an XML error where AWS answers JSON,
  // as moto does): its HTTP status is all there is to go on.
  const said = name === 'SyntaxError' && status !== undefined ? `HTTP ${status} (an answer the AWS SDK could not read)` : `${name}: ${err.message ?? ''}`.trim();
  if (credentialErrors.has(name) || status === 401 || status === 403) return { kind: 'config', reason: `CloudWatch Logs rejected the credentials: ${said}` };
  if (name === 'InvalidParameterException') return { kind: 'split', reason: `CloudWatch Logs refused the batch: ${said}` };
  if (transientErrors.has(name) || (status !== undefined && status >= 500)) return { kind: 'retry', reason: `CloudWatch Logs unavailable: ${said}` };
  if (status === undefined) return { kind: 'retry', reason: describeNetworkError(error, timeoutMs) };
  return { kind: 'config', reason: `CloudWatch Logs answered ${said}` };
}
