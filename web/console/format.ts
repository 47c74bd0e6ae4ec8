// What the console says, as pure functions (unit-tested in test/unit/console-format.test.ts).

/** "5 h 12 min", "3 min", "less than a minute": how long until `at`. */
export function timeLeft(at: Date, now: Date): string {
  const minutes = Math.floor((at.getTime() - now.getTime()) / 60_000);
  if (minutes < 1) return 'less than a minute';
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest} min`;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/** "2 min ago", "just now": how long since `at`. */
export function timeAgo(at: Date, now: Date): string {
  const seconds = Math.floor((now.getTime() - at.getTime()) / 1000);
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/**
 * The form field an API error is about, found by the field's API name in the message
 * ("endpoint must be an https URL", "webhook destinations need secret",
 * "settings.log_group does not apply…"); undefined when the message names none of them.
 * Longer names are tried first, so `secret_access_key` is not taken for `secret`.
 */
export function fieldOfError(message: string, fields: string[]): string | undefined {
  const byLength = [...fields].sort((a, b) => b.length - a.length);
  for (const field of byLength) {
    const pattern = new RegExp(`(^|[^a-z_.])${field.replace(/\./g, '\\.')}($|[^a-z_])`);
    if (pattern.test(message)) return field;
  }
  return undefined;
}

/** "4 Dec 2026, 02:43:10 UTC": a time an incident write-up can quote, in the given time zone, which it names. */
export function absoluteTime(at: Date, timeZone: string): string {
  const parts = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' } as const;
  return new Intl.DateTimeFormat('en-GB', { ...parts, timeZone, timeZoneName: 'short' }).format(at);
}

export function plural(count: number | bigint, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 || count === 1n ? one : many}`;
}
