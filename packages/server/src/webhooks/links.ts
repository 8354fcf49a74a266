/**
 * @module webhooks/links — signed, expiring links that approve or reject one remediation as the identity
 * bound when the link was made.
 *
 * A link is `<base>/v1/links/remediations?t=<claims>.<mac>`: `claims` is base64url JSON `{ r, d, p, k, e }`
 * (remediation id, decision, project, token id, expiry in Unix seconds), `mac` the base64url
 * HMAC-SHA256 of `claims` under a key kept in `$TIDEPOOL_HOME/webhooks/link.key` (0600, made on first
 * use). Changing any claim breaks the mac; the token id is resolved again on use, so a revoked token's
 * links stop working, and the decision runs through dispatch with that token's scopes and the policy.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { AppError } from '../core/errors.js'

export interface LinkClaims {
  remediationId: string
  decision: 'approve' | 'reject'
  project: string
  tokenId: string
  /** Unix seconds. */
  expiresAt: number
}

export const linkPath = '/v1/links/remediations'
/** Longest link token read (claims are a few ids; this bounds the work on a forged one). */
const maxTokenChars = 1024

export class LinkSigner {
  constructor(private readonly key: Buffer) {}

  sign(c: LinkClaims): string {
    const claims = Buffer.from(JSON.stringify({ r: c.remediationId, d: c.decision, p: c.project, k: c.tokenId, e: c.expiresAt })).toString('base64url')
    return `${claims}.${this.#mac(claims)}`
  }

  /** The claims of a well-signed, unexpired token; otherwise `unauthenticated` with details.reason `link_invalid` (forged, malformed) or `link_expired`. */
  verify(token: string | undefined, nowS: number): LinkClaims {
    if (!token || token.length > maxTokenChars) throw invalid()
    const dot = token.indexOf('.')
    const claims = token.slice(0, dot)
    const mac = token.slice(dot + 1)
    const want = Buffer.from(this.#mac(claims))
    const got = Buffer.from(mac)
    if (dot <= 0 || want.length !== got.length || !timingSafeEqual(want, got)) throw invalid()
    const c = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { r: string; d: 'approve' | 'reject'; p: string; k: string; e: number }
    if (typeof c.e !== 'number' || (c.d !== 'approve' && c.d !== 'reject')) throw invalid()
    if (c.e <= nowS) throw new AppError('unauthenticated', `the link expired at ${new Date(c.e * 1000).toISOString()}; ask for a new one`, { reason: 'link_expired' })
    return { remediationId: c.r, decision: c.d, project: c.p, tokenId: c.k, expiresAt: c.e }
  }

  #mac(claims: string): string {
    return createHmac('sha256', this.key).update(claims).digest('base64url')
  }
}

const invalid = () => new AppError('unauthenticated', 'the link is malformed or was not made by this server; ask for a new one', { reason: 'link_invalid' })

/** The link key of a home: read, or made once (0600, never overwritten). */
export function loadOrCreateLinkKey(file: string): Buffer {
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  try {
    const fd = openSync(file, 'wx', 0o600)
    writeSync(fd, key.toString('base64url'))
    closeSync(fd)
    return key
  } catch (err) {
    // Another process made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url')
    throw err
  }
}
