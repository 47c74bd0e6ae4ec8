// A new webhook secret starts a rotation: the previous one stays valid (both signatures are
// sent) for a day after the change, so receivers can switch over without losing deliveries.
import type { Credentials } from '../provider.js';

export const rotationMs = 24 * 3600_000;

export function rotateSecret(current: Credentials, change: Credentials, now: Date): Credentials {
  const merged: Credentials = { ...current, ...change };
  if (change.secret !== undefined && current.secret && change.secret !== current.secret) {
    merged.previousSecret = current.secret;
    merged.secretRotatedAt = now.toISOString();
  }
  return merged;
}

/** The secrets a webhook request is signed with right now: the current one, and the previous during a rotation. */
export function signingSecrets(credentials: Credentials, now: Date): string[] {
  const secrets = [credentials.secret!];
  const rotatedAt = credentials.secretRotatedAt ? Date.parse(credentials.secretRotatedAt) : NaN;
  if (credentials.previousSecret && now.getTime() - rotatedAt < rotationMs) secrets.push(credentials.previousSecret);
  return secrets;
}
