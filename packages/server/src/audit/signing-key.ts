/** @module audit/signing-key — the Ed25519 key that signs audit checkpoints, kept in a file outside the store. */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { AppError } from '../core/errors.js'

/** A public key that checks checkpoint signatures; the signing key adds `sign`. */
export interface AuditVerifier {
  /** First 16 hex digits of the SHA-256 of the raw 32-byte public key. */
  readonly id: string
  /** The raw public key, base64url (what `tidepool audit key` prints, and what `--key` pins). */
  readonly publicKey: string
  verify(message: string, signature: string): boolean
}
export interface AuditSigner extends AuditVerifier {
  sign(message: string): string
}

/** Reads the signing key at `file`, or creates it (0600, in a 0700 directory) when there is none. */
export function loadOrCreateSigningKey(file: string): { key: AuditSigner; created: boolean } {
  if (existsSync(file)) return { key: readSigningKey(file), created: false }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const { privateKey } = generateKeyPairSync('ed25519')
  try {
    // 'wx': if two processes race here, one key wins and the other reads it.
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return { key: readSigningKey(file), created: false }
    throw err
  }
  return { key: signerOf(privateKey), created: true }
}

/** Reads an existing signing key (offline verify never creates one). */
export function readSigningKey(file: string): AuditSigner {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    throw new AppError('internal', `cannot read the audit signing key ${file}: ${(err as Error).message}`, undefined, { cause: err })
  }
  try {
    // A key others can read signs nothing trustworthy; tighten it when it is ours to change.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600)
  } catch {}
  try {
    return signerOf(createPrivateKey(pem))
  } catch (err) {
    throw new AppError('invalid_request', `the audit signing key ${file} is not an Ed25519 private key (PEM, PKCS#8); restore it from a backup`, undefined, { cause: err })
  }
}

/** A verifier for a public key given as base64url (the pinned key of `audit verify --key`). */
export function verifierOf(publicKey: string): AuditVerifier {
  let key: KeyObject
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' })
  } catch (err) {
    throw new AppError(
      'invalid_request',
      `--key must be an Ed25519 public key as printed by \`tidepool audit key\` (43 base64url characters), got ${JSON.stringify(publicKey.slice(0, 64))}`,
      undefined,
      { cause: err },
    )
  }
  return publicOf(key)
}

function signerOf(privateKey: KeyObject): AuditSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError(`not an Ed25519 key (${privateKey.asymmetricKeyType})`)
  const pub = publicOf(createPublicKey(privateKey))
  return { ...pub, verify: pub.verify, sign: (message) => sign(null, Buffer.from(message, 'utf8'), privateKey).toString('base64url') }
}

function publicOf(key: KeyObject): AuditVerifier {
  const x = key.export({ format: 'jwk' }).x
  if (key.asymmetricKeyType !== 'ed25519' || typeof x !== 'string') throw new TypeError('not an Ed25519 public key')
  const id = createHash('sha256').update(Buffer.from(x, 'base64url')).digest('hex').slice(0, 16)
  return {
    id,
    publicKey: x,
    verify: (message, signature) => {
      try {
        return verify(null, Buffer.from(message, 'utf8'), key, Buffer.from(signature, 'base64url'))
      } catch {
        return false
      }
    },
  }
}
