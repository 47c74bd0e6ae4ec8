/** A Retry-After header (seconds or an HTTP date) in milliseconds, if present and sane. */
export function retryAfterMs(value: string | string[] | undefined, now: Date): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}

/** The start of a response body, for status reasons: one line, bounded. */
export function excerpt(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
