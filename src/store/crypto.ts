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

export interface Keyring {
  current: number;
  keys: Map<number, Buffer>;
}

export class CredentialCipher {
  private keyring: Keyring;

  /**
   * `reload` is asked for a fresh keyring when a ciphertext names a key version this
   * process does not know yet (the key was rotated while it ran).
   */
  constructor(keyring: Keyring, private readonly reload?: () => Keyring) {
    this.keyring = checked(keyring);
  }

  get currentVersion(): number {
    return this.keyring.current;
  }

  seal(plaintext: string, associatedData: string): Sealed {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keyring.keys.get(this.keyring.current)!, nonce);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      keyVersion: this.keyring.current,
      nonce: nonce.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  /** Reads the key file again (no-op for keys from the environment): a version added since is the one that seals. */
  refresh(): void {
    if (this.reload) this.keyring = checked(this.reload());
  }

  open(sealed: Sealed, associatedData: string): string {
    if (!this.keyring.keys.has(sealed.keyVersion) && this.reload) this.keyring = checked(this.reload());
    const key = this.keyring.keys.get(sealed.keyVersion);
    if (!key) throw new Error(`credentials are sealed with key version ${sealed.keyVersion}, which is not configured`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
  }
}

function checked(keyring: Keyring): Keyring {
  for (const [version, key] of keyring.keys) {
    if (key.length !== 32) throw new Error(`encryption key version ${version} must be 32 bytes (AES-256), got ${key.length}`);
  }
  if (!keyring.keys.has(keyring.current)) throw new Error(`no encryption key for version ${keyring.current}`);
  return keyring;
}

/** "1:<base64>,2:<base64>" (the highest version seals) or a single base64 key (version 1). */
export function parseKeys(value: string): Keyring {
  const keys = new Map<number, Buffer>();
  for (const entry of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const match = /^(\d+):(.+)$/.exec(entry);
    keys.set(match ? Number(match[1]) : 1, Buffer.from(match ? match[2] : entry, 'base64'));
  }
  if (keys.size === 0) throw new Error('no key given');
  return { current: Math.max(...keys.keys()), keys };
}

function readKeyFile(file: string): Keyring {
  return parseKeys(readFileSync(file, 'utf8').trim());
}

/** Adds a fresh key version to a key file and returns the new version. */
export function addKeyVersion(file: string): number {
  const keyring = readKeyFile(file);
  const version = keyring.current + 1;
  keyring.keys.set(version, randomBytes(32));
  const text = [...keyring.keys].map(([v, key]) => `${v}:${key.toString('base64')}`).join(',');
  writeFileSync(file, text + '\n', { mode: 0o600 });
  return version;
}

/**
 * Production passes AUDITSTREAM_ENCRYPTION_KEYS ("1:<base64>,2:<base64>") or
 * AUDITSTREAM_ENCRYPTION_KEY (one base64 key). For the local stack a key file is generated
 * once (mode 0600), reused, and re-read when a rotation added a version.
 */
export function loadCipher(options: { keys?: string; keyFile?: string }): CredentialCipher {
  if (options.keys) return new CredentialCipher(parseKeys(options.keys));
  if (!options.keyFile) throw new Error('set AUDITSTREAM_ENCRYPTION_KEYS (base64 of 32 random bytes)');
  const file = options.keyFile;
  createKeyFileOnce(file, `1:${randomBytes(32).toString('base64')}\n`);
  return new CredentialCipher(readKeyFile(file), () => readKeyFile(file));
}

/**
 * The masking key (src/subscription/masking.ts): AUDITSTREAM_MASKING_KEY in production, or a
 * key file generated once for the local stack. It is never rotated in place: every token a
 * customer searches their SIEM for would change.
 */
export function loadMaskingKey(options: { key?: string; keyFile?: string }): Buffer {
  if (!options.key && !options.keyFile) throw new Error('set AUDITSTREAM_MASKING_KEY (base64 of 32 random bytes)');
  if (options.keyFile && !options.key) createKeyFileOnce(options.keyFile, `${randomBytes(32).toString('base64')}\n`);
  const key = Buffer.from(options.key ?? readFileSync(options.keyFile!, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`the masking key must be 32 bytes (base64), got ${key.length}`);
  return key;
}

/** Writes a new key file (mode 0600) unless it exists. */
export function createKeyFileOnce(file: string, contents: string): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, contents, { mode: 0o600, flag: 'wx' });
}
