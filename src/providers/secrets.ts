// Credentials never leave in the clear: read APIs show a masked hint, and whatever a
// destination answers is scrubbed of the destination's own credential values before it can
// reach a status reason, a rejection, a log line or Temporal's history (some receivers repeat
// the token they refused: "scheme or token does not match: Splunk wrong-token-…").

/** "••••1a2b" for long values; short ones show nothing of themselves. */
export function maskSecret(value: string): string {
  return value.length >= 12 ? `••••${value.slice(-4)}` : '••••';
}

/** Values shorter than this are not searched for: they would mask ordinary words. */
const shortestScrubbed = 4;

/** `text` with every occurrence of any of `secrets` masked. */
export function scrubSecrets(text: string, secrets: readonly string[] = []): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (secret.length >= shortestScrubbed && scrubbed.includes(secret)) scrubbed = scrubbed.split(secret).join(maskSecret(secret));
  }
  return scrubbed;
}

/** Every secret value a destination's credentials hold (a rotation's previous secret included). */
export function credentialValues(credentials: Record<string, string | undefined>): string[] {
  return Object.entries(credentials)
    .filter(([field, value]) => value !== undefined && field !== 'secretRotatedAt')
    .map(([, value]) => value!);
}
