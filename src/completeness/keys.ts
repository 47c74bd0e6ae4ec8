// The service's signing keys for checkpoints and export manifests: Ed25519, versioned like the
// credential keys ("1:<base64 seed>,2:<base64 seed>", the highest version signs, every version
// still verifies). From AUDITSTREAM_SIGNING_KEYS in production, or a key file generated once
// (mode 0600) for the local stack; `npm run admin -- rotate-signing-key` adds a version to it
// (the same file format and rotation as the credential keys: src/store/crypto.ts).
// Only the public halves ever leave the process (the well-known keys path, the verifier).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createKeyFileOnce, parseKeys } from '../store/crypto.js';
import { signerOf, verifierKeyOf, type NoteSigner } from './note.js';

export interface PublicSigningKey {
  /** The verifier key text (name+keyid+key), as C2SP and Go's sumdb/note read it. */
  verifierKey: string;
  keyId: string;
  version: number;
  /** This version signs what is made now; the others only verify what they signed. */
  current: boolean;
}

export class SigningKeys {
  private signers = new Map<number, NoteSigner>();

  constructor(
    private readonly name: string,
    private readonly read: () => string,
  ) {
    this.reload();
  }

  /** Reads the keys again: a version added by a rotation signs from now on. */
  reload(): void {
    const signers = new Map<number, NoteSigner>();
    for (const [version, seed] of parseKeys(this.read()).keys) signers.set(version, signerOf(this.name, seed));
    this.signers = signers;
  }

  /** The signer of what is made now: the highest version. */
  current(): NoteSigner {
    return this.signers.get(Math.max(...this.signers.keys()))!;
  }

  /** Every version's public key, newest first. */
  publicKeys(): PublicSigningKey[] {
    const newest = Math.max(...this.signers.keys());
    return [...this.signers]
      .sort(([a], [b]) => b - a)
      .map(([version, signer]) => ({ verifierKey: verifierKeyOf(signer), keyId: signer.keyId.toString(16).padStart(8, '0'), version, current: version === newest }));
  }
}

export const defaultSigningKeyName = 'auditstream';

/** Keys from AUDITSTREAM_SIGNING_KEYS, or from the key file (made once, re-read on each use of `reload`). */
export function loadSigningKeys(options: { keys?: string; keyFile?: string; name?: string }): SigningKeys {
  const name = options.name ?? defaultSigningKeyName;
  if (options.keys) {
    const keys = options.keys;
    return new SigningKeys(name, () => keys);
  }
  if (!options.keyFile) throw new Error('set AUDITSTREAM_SIGNING_KEYS ("1:<base64 of 32 random bytes>")');
  const file = options.keyFile;
  createKeyFileOnce(file, `1:${randomBytes(32).toString('base64')}\n`);
  return new SigningKeys(name, () => readFileSync(file, 'utf8').trim());
}
