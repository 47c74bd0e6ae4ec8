// Credentials at rest: AES-256-GCM with a random 96-bit nonce per record and the owning
// tenant and destination as associated data, so a ciphertext copied onto another record
// does not decrypt. The key version travels with each ciphertext for key rotation.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Sealed {
  keyVersion: number;
  nonce: string;
  tag: string;
  data: string;
}

export class CredentialCipher {
  private readonly keys: Map<number, Buffer>;

  /** `keys` maps key versions to 32-byte keys; new records are sealed with `currentVersion`. */
  constructor(keys: Map<number, Buffer>, private readonly currentVersion: number) {
    for (const [version, key] of keys) {
      if (key.length !== 32) throw new Error(`encryption key version ${version} must be 32 bytes (AES-256), got ${key.length}`);
    }
    if (!keys.has(currentVersion)) throw new Error(`no encryption key for version ${currentVersion}`);
    this.keys = keys;
  }

  seal(plaintext: string, associatedData: string): Sealed {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentVersion)!, nonce);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      keyVersion: this.currentVersion,
      nonce: nonce.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  open(sealed: Sealed, associatedData: string): string {
    const key = this.keys.get(sealed.keyVersion);
    if (!key) throw new Error(`credentials are sealed with key version ${sealed.keyVersion}, which is not configured`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
  }
}

/**
 * The key comes from AUDITSTREAM_ENCRYPTION_KEY (base64) in production. For the local
 * stack a key file is generated once (mode 0600) and reused, so data survives restarts.
 */
export function loadCipher(options: { key?: string; keyFile?: string }): CredentialCipher {
  let encoded = options.key;
  if (!encoded) {
    if (!options.keyFile) throw new Error('set AUDITSTREAM_ENCRYPTION_KEY (base64 of 32 random bytes)');
    if (!existsSync(options.keyFile)) {
      mkdirSync(dirname(options.keyFile), { recursive: true });
      writeFileSync(options.keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    }
    encoded = readFileSync(options.keyFile, 'utf8').trim();
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length !== 32) throw new Error('the encryption key must be base64 of exactly 32 bytes');
  return new CredentialCipher(new Map([[1, key]]), 1);
}
