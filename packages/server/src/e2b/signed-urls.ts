/**
 * @module e2b/signed-urls — envd's signed file URLs (`sandbox.uploadUrl()` / `downloadUrl()`): the SDK signs
 * `<path>:<read|write>:<user>:<envdAccessToken>[:<expiration>]` with SHA-256 (`v1_` + base64, no padding)
 * and a plain HTTP client fetches the URL with no other credential. The server checks the signature
 * against the access tokens it handed out (or saw) for the sandbox, and the expiration against its clock.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { AppError } from '../core/errors.js'

/** A signed URL without E2b-Sandbox-Id names no sandbox (E2B_SANDBOX_URL is one address for all): tried against each. */
const MAX_TOKENS_PER_SANDBOX = 16
const MAX_SANDBOXES = 10_000
const SIGNATURE = /^v1_[A-Za-z0-9+/]{43}$/
const EXPIRATION = /^[0-9]{1,12}$/

export interface SignedRequest {
  /** `path` as the URL carries it ('' when absent: a multipart upload names its files itself). */
  path: string
  operation: 'read' | 'write'
  /** `username` as the URL carries it ('' when absent). */
  user: string
  signature: string
  /** `signature_expiration` (unix seconds), when the URL has one. */
  expiration: string | undefined
}

/** The signature the SDK computes for `r` with `token`. Pure. */
export function signatureOf(r: Omit<SignedRequest, 'signature'>, token: string): string {
  const raw = `${r.path}:${r.operation}:${r.user}:${token}${r.expiration === undefined ? '' : `:${r.expiration}`}`
  return 'v1_' + createHash('sha256').update(raw, 'utf8').digest('base64').replace(/=+$/, '')
}

/**
 * Checks the form and the expiration of a signed request (before any signature is computed): an expired
 * URL is refused as `unauthenticated` with `details.reason` `signature_expired`, a malformed one with
 * `signature_invalid`.
 */
export function checkSignedForm(r: SignedRequest, nowMs: number): void {
  if (!SIGNATURE.test(r.signature)) throw signatureError('signature_invalid', 'signature is not an envd file signature (v1_ and 43 base64 characters)')
  if (r.expiration === undefined) return
  if (!EXPIRATION.test(r.expiration)) throw signatureError('signature_invalid', `signature_expiration must be unix seconds (got ${JSON.stringify(r.expiration.slice(0, 32))})`)
  if (Number(r.expiration) * 1000 <= nowMs) throw signatureError('signature_expired', `the signed URL expired at ${new Date(Number(r.expiration) * 1000).toISOString()}; ask the SDK for a new one`)
}

export function signatureError(reason: 'signature_invalid' | 'signature_expired', message: string): AppError {
  return new AppError('unauthenticated', message, { reason })
}

/**
 * The envd access tokens this server issued (create, connect) or accepted (X-Access-Token) per sandbox,
 * kept in memory: tokens are derived (HMAC), not stored, so after a restart a URL signed earlier is
 * accepted again once its token is seen again (the SDK's Sandbox.connect or any envd call).
 */
export class AccessTokens {
  readonly #bySandbox = new Map<string, string[]>()

  remember(sandboxId: string, token: string): void {
    const known = this.#bySandbox.get(sandboxId)
    if (known?.includes(token)) return
    if (known) {
      known.push(token)
      if (known.length > MAX_TOKENS_PER_SANDBOX) known.shift()
      return
    }
    // The oldest sandbox goes first (Map keeps insertion order); a destroyed one only wastes a slot.
    if (this.#bySandbox.size >= MAX_SANDBOXES) this.#bySandbox.delete(this.#bySandbox.keys().next().value!)
    this.#bySandbox.set(sandboxId, [token])
  }

  /** The sandbox and token whose signature `r` carries, or undefined; only `sandboxId` when given. */
  match(r: SignedRequest, sandboxId: string | undefined): { sandboxId: string; token: string } | undefined {
    const given = Buffer.from(r.signature, 'utf8')
    const candidates: [string, string[]][] = sandboxId === undefined ? [...this.#bySandbox] : [[sandboxId, this.#bySandbox.get(sandboxId) ?? []]]
    for (const [id, tokens] of candidates) {
      for (const token of tokens) {
        const want = Buffer.from(signatureOf(r, token), 'utf8')
        if (want.length === given.length && timingSafeEqual(want, given)) return { sandboxId: id, token }
      }
    }
    return undefined
  }
}
